"""Builds the optional C core of MemoryCache; everything else is in pyproject.toml.

The extension is ``optional``: without a C compiler the install still succeeds and
``llm_core.adapters.memory`` falls back to its pure-Python core (same behaviour, slower).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "llm_core.adapters._memory_core",
            sources=["src/llm_core/adapters/_memory_core.c"],
            optional=True,
            extra_compile_args=["-O2"],
        )
    ]
)
