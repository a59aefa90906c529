"""The server's periodic sweeper: ``session.expired`` for the sessions that expired unanswered
since the last sweep.

How it finds them without reading every record: a token carries its expiry
(``<expiry in hex>.<random>``), and the cache lists key *names* (an index range scan on SQLite
and Postgres, ``SCAN`` on Redis) without reading any value.  Each sweep lists the session keys
once and remembers the tokens that had not expired yet ("watched").  A watched token whose
expiry has now passed expired since the last sweep; only those are looked at:

- its record is gone (a pending record is stored with the session's TTL, so the cache drops it
  at expiry): it expired unanswered -> ``session.expired``;
- its record is still there: read that one record -- pending (not yet dropped) -> expired;
  claimed -> a resume holds it, look again next sweep; completed or cancelled -> answered in
  time, nothing to say.

A session answered long before its expiry whose finished record was then dropped
(``result_ttl``, 15 minutes by default) disappears from the listing before its expiry, so it
is forgotten, not reported.  The one blind spot: a session answered *and* dropped within the
same sweep interval just before its expiry (a ``result_ttl`` shorter than ``--sweep-interval``)
is reported as expired unless the server itself decided it (its audit entry tells).  Sessions
that expired while no server was sweeping are not reported (their records are gone).  Every
server sweeping one cache reports the same expiry: run one sweeper (``--webhook`` on one
server), or let receivers drop duplicates by ``data.token``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from llm_core._log import get_logger
from llm_core.errors import LlmCoreError
from llm_core.server._apps import Apps
from llm_core.server._service import AUDIT_PREFIX
from llm_core.sessions import SessionStore, token_expiry

__all__ = ["DEFAULT_SWEEP_INTERVAL", "Sweeper"]

_logger = get_logger("server")

DEFAULT_SWEEP_INTERVAL = 60.0

Notify = Callable[[str, dict[str, Any]], None]


class Sweeper:
    """Every ``interval`` seconds, ``notify("session.expired", data)`` for each session of
    ``apps`` that expired unanswered since the previous sweep (see the module docstring)."""

    def __init__(
        self,
        apps: Apps,
        notify: Notify,
        interval: float = DEFAULT_SWEEP_INTERVAL,
        *,
        base_path: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not interval > 0:
            raise ValueError("the sweep interval must be positive")
        self.apps, self.notify, self.interval = apps, notify, interval
        self.base_path, self.clock = base_path, clock
        self._watched: dict[int, dict[str, float]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.expired = 0
        self.reads = 0

    # --- one sweep --------------------------------------------------------------------

    def sweep(self) -> int:
        """Look once; the number of ``session.expired`` events sent."""
        sent = 0
        for store in self.apps.stores():
            if not store.listable:
                continue
            try:
                sent += self._sweep_store(store)
            except LlmCoreError as exc:  # the cache is down: try again next time
                _logger.warning("sweeper: could not list sessions (%s); next sweep retries", exc)
        self.expired += sent
        return sent

    def _sweep_store(self, store: SessionStore) -> int:
        now = self.clock()
        present = set(store.tokens())  # key names only: no record is read
        watched = self._watched.setdefault(id(store), {})
        sent = 0
        for token, expiry in list(watched.items()):
            if token not in present:
                del watched[token]
                if expiry <= now and not self._decided(store, token):
                    sent += self._tell(token, expiry, None)
                continue  # gone before its expiry: answered, then its result was dropped
            if expiry > now:
                continue
            self.reads += 1
            try:
                info = store.info(token)
            except LlmCoreError:
                continue  # look again next sweep
            if info is None or info.status == "pending":
                del watched[token]
                recipe = info.snapshot.recipe if info is not None and info.snapshot else None
                sent += self._tell(token, expiry, recipe)
            elif info.status != "claimed":  # completed, cancelled or unreadable: not an expiry
                del watched[token]
        for token in present:
            if token not in watched:
                expires = token_expiry(token)
                if expires is not None and expires > now:
                    watched[token] = expires
        return sent

    @staticmethod
    def _decided(store: SessionStore, token: str) -> bool:
        try:
            return store.cache.get(AUDIT_PREFIX + token) is not None
        except LlmCoreError:
            return False

    def _tell(self, token: str, expiry: float, recipe: str | None) -> int:
        data: dict[str, Any] = {
            "token": token,
            "expires_at": expiry,
            "recipe": recipe,
            "links": {"self": f"{self.base_path}/sessions/{token}"},
        }
        try:
            self.notify("session.expired", data)
        except Exception:  # a notification never stops the sweeper
            _logger.exception("webhook notification session.expired failed")
            return 0
        return 1

    # --- the background thread ----------------------------------------------------------

    def start(self) -> None:
        """Take the first look now (the sessions to watch) and sweep every ``interval``."""
        self.sweep()
        self._thread = threading.Thread(target=self._run, name="llm-core-sweeper", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sweep()
            except Exception:  # never let the thread die
                _logger.exception("sweeper: the sweep failed")

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
