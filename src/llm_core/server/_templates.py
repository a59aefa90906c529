# ruff: noqa: E501  (template text: long lines are the markup's own)
"""The inbox's Jinja2 templates and stylesheet, kept as Python strings (nothing to package
beside the modules).  Rendered with autoescaping on: every value is escaped."""

from __future__ import annotations

__all__ = ["TEMPLATES"]

TEMPLATES: dict[str, str] = {
    "base.html": """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{% block title %}Inbox{% endblock %} · llm-core</title>
<link rel="stylesheet" href="/static/inbox.css">
</head>
<body>
<header>
  <a class="brand" href="/">llm-core inbox</a>
  {% if reviewer %}
  <form class="who" method="post" action="/logout">
    <span>Signed in as <strong>{{ reviewer }}</strong></span>
    <input type="hidden" name="csrf" value="{{ csrf }}">
    {% if can_logout %}<button type="submit">Sign out</button>{% endif %}
  </form>
  {% endif %}
</header>
<main>
{% block main %}{% endblock %}
</main>
</body>
</html>
""",
    "error.html": """\
{% extends "base.html" %}
{% block title %}{{ problem.title }}{% endblock %}
{% block main %}
<p><a href="/">← Inbox</a></p>
<h1>{{ problem.title }}</h1>
<p class="error">{{ problem.detail }}</p>
<p><small>{{ problem.kind }} ({{ problem.status }})</small></p>
{% endblock %}
""",
    "inbox.css": """\
:root { --fg: #1d2330; --muted: #5b6475; --line: #d9dee7; --accent: #2f5bea; --ok: #1f7a3d; --bad: #b42318; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: #f5f7fb; }
header { display: flex; justify-content: space-between; align-items: center; padding: .75rem 1.5rem; background: #fff; border-bottom: 1px solid var(--line); }
header .brand { font-weight: 700; color: var(--fg); text-decoration: none; }
header .who { display: flex; gap: .75rem; align-items: center; margin: 0; }
main { max-width: 960px; margin: 1.5rem auto; padding: 0 1.5rem; }
h1 { font-size: 1.5rem; margin: .5rem 0 1rem; }
h1 .count { font-size: .9rem; background: var(--accent); color: #fff; border-radius: 999px; padding: .1rem .6rem; vertical-align: middle; }
table { width: 100%; border-collapse: collapse; background: #fff; border: 1px solid var(--line); }
th, td { text-align: left; padding: .6rem .75rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-size: .8rem; text-transform: uppercase; color: var(--muted); }
td.preview { max-width: 420px; overflow-wrap: anywhere; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 1rem 1.25rem; margin: 1rem 0; }
.card h2 { font-size: 1.1rem; margin-top: 0; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }
dl.meta dt { color: var(--muted); }
dl.meta dd { margin: 0; overflow-wrap: anywhere; }
dl.payload { margin: 0; }
dl.payload dt { font-weight: 600; margin-top: .5rem; }
dl.payload dd { margin: .25rem 0 0; }
.text { white-space: pre-wrap; overflow-wrap: anywhere; background: #f8fafc; border: 1px solid var(--line); border-radius: 6px; padding: .6rem .75rem; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #f8fafc; border: 1px solid var(--line); border-radius: 6px; padding: .6rem .75rem; }
label { display: block; font-weight: 600; margin-top: .75rem; }
small { display: block; color: var(--muted); }
input[type=text], input[type=number], input[type=password], textarea, select { width: 100%; font: inherit; padding: .45rem .6rem; border: 1px solid var(--line); border-radius: 6px; }
.buttons { display: flex; gap: .5rem; margin-top: 1rem; }
button { font: inherit; padding: .45rem 1rem; border-radius: 6px; border: 1px solid var(--line); background: #fff; cursor: pointer; }
button.approve { background: var(--ok); border-color: var(--ok); color: #fff; }
button.reject { background: #fff; border-color: var(--bad); color: var(--bad); }
button.link { border: 0; background: none; color: var(--muted); text-decoration: underline; padding: 0; margin-top: 1rem; }
.error { color: var(--bad); background: #fef3f2; border: 1px solid #fecdca; padding: .5rem .75rem; border-radius: 6px; }
.status { font-size: .75rem; padding: .1rem .5rem; border-radius: 999px; background: #eef2ff; color: var(--accent); vertical-align: middle; }
.status.completed { background: #ecfdf3; color: var(--ok); }
.status.cancelled, .status.invalid { background: #fef3f2; color: var(--bad); }
.audit { font-size: 1rem; }
.empty { color: var(--muted); }
fieldset { border: 1px solid var(--line); border-radius: 6px; margin: .75rem 0 0; padding: .25rem .75rem .75rem; }
legend { color: var(--muted); padding: 0 .25rem; }
code.tool-name { font-size: 1rem; background: #eef2ff; color: var(--accent); border-radius: 4px; padding: .05rem .35rem; }
.tool-description { color: var(--muted); margin-top: 0; }
ol.conversation { padding-left: 1.25rem; margin: 0; }
ol.conversation li { margin: .35rem 0; }
ol.conversation .text { display: inline-block; padding: .2rem .5rem; }
""",
    "inbox.html": """\
{% extends "base.html" %}
{% block title %}Inbox{% endblock %}
{% block main %}
<h1>Waiting for a decision <span class="count">{{ rows|length }}</span></h1>
{% if not rows %}
<p class="empty">Nothing is waiting. Paused runs appear here.</p>
{% else %}
<table>
  <thead><tr><th>Recipe</th><th>Kind</th><th>Preview</th><th>Age</th><th>Time left</th><th>Status</th></tr></thead>
  <tbody>
  {% for row in rows %}
  <tr>
    <td><a href="/inbox/{{ row.token }}">{{ row.recipe or "?" }}</a></td>
    <td>{{ row.pause_kind or "?" }}</td>
    <td class="preview"><a href="/inbox/{{ row.token }}">{{ row.preview }}</a></td>
    <td>{{ row.age }}</td>
    <td>{{ row.left }}</td>
    <td><span class="status {{ row.status }}">{{ row.status }}</span></td>
  </tr>
  {% endfor %}
  </tbody>
</table>
{% endif %}
{% if next_cursor %}<p><a href="/?cursor={{ next_cursor }}">Older sessions →</a></p>{% endif %}
{% endblock %}
""",
    "login.html": """\
{% extends "base.html" %}
{% block title %}Sign in{% endblock %}
{% block main %}
<h1>Sign in</h1>
{% if error %}<p class="error" role="alert">{{ error }}</p>{% endif %}
<form method="post" action="/login" class="card">
  <input type="hidden" name="csrf" value="{{ csrf }}">
  <input type="hidden" name="next" value="{{ next }}">
  <label for="key">API key</label>
  <input id="key" name="key" type="password" autocomplete="current-password" required>
  <button type="submit">Sign in</button>
</form>
{% endblock %}
""",
    "session.html": """\
{% extends "base.html" %}
{% block title %}{{ s.recipe or "Session" }}{% endblock %}
{% block main %}
{% macro field(f, id) %}
      <label for="{{ id }}">{{ f.label }}{% if f.required %} *{% endif %}</label>
      {% if f.description %}<small>{{ f.description }}</small>{% endif %}
      {% set current = values.get(f.input, f.value if f.value is defined else "") %}
      {% if f.widget == "select" %}
      <select id="{{ id }}" name="{{ f.input }}">
        {% if not f.required %}<option value="">—</option>{% endif %}
        {% for value, text in f.options %}<option value="{{ value }}"{% if current == value %} selected{% endif %}>{{ text }}</option>{% endfor %}
      </select>
      {% elif f.widget == "number" %}
      <input id="{{ id }}" name="{{ f.input }}" type="number" step="{{ f.step }}" value="{{ current }}">
      {% elif f.widget == "text" %}
      <input id="{{ id }}" name="{{ f.input }}" type="text" value="{{ current }}">
      {% else %}
      <textarea id="{{ id }}" name="{{ f.input }}" rows="4"{% if f.widget == "json" %} placeholder="JSON"{% endif %}>{{ current }}</textarea>
      {% endif %}
{% endmacro %}
<p><a href="/">← Inbox</a></p>
<h1>{{ s.recipe or "Session" }} <span class="status {{ s.status }}">{{ s.status }}</span></h1>
<dl class="meta">
  <dt>Kind</dt><dd>{{ s.pause_kind or "?" }}</dd>
  <dt>Step</dt><dd>{{ s.step or "?" }}</dd>
  {% if s.created_at %}<dt>Paused</dt><dd>{{ when(s.created_at) }} ({{ age }} ago)</dd>{% endif %}
  {% if s.expires_at and s.status in ("pending", "claimed") %}<dt>Time left</dt><dd>{{ left }}</dd>{% endif %}
  <dt>Token</dt><dd><code>{{ s.token }}</code></dd>
</dl>
{% if s.problem %}<p class="error">{{ s.problem }}</p>{% endif %}

{% if s.status in ("completed", "cancelled") %}
<section class="card outcome">
  <h2>{% if s.status == "cancelled" %}Cancelled{% else %}Decided{% endif %}</h2>
  {% if s.audit %}
  <p class="audit">{{ "Cancelled" if s.audit.action == "cancelled" else "Answered" }} by <strong class="reviewer">{{ s.audit.by }}</strong>
     on {{ when(s.audit.at) }} (via {{ s.audit.via }})</p>
  {% endif %}
  {% if s.outcome %}
    {% if s.outcome.status == "ok" %}
    <h3>Result</h3>
    {{ render(s.outcome.artefact) }}
    {% elif s.outcome.status == "paused" %}
    <p>The run paused again: <a href="/inbox/{{ s.outcome.token }}">answer its next question</a>.</p>
    {% endif %}
  {% endif %}
</section>
{% elif tool %}
<section class="card tool-call">
  <h2>The model wants to run <code class="tool-name">{{ tool.tool }}</code></h2>
  {% if tool.description %}<p class="tool-description">{{ tool.description }}</p>{% endif %}
  <h3>Arguments</h3>
  <pre class="arguments">{{ tool.arguments_json }}</pre>
  {% if tool.message %}
  <h3>The model's message</h3>
  <div class="text model-message">{{ tool.message }}</div>
  {% endif %}
  {% if tool.other_calls %}
  <h3>Its other calls in this reply</h3>
  <ul class="other-calls">{% for c in tool.other_calls %}<li><code>{{ c.name }}</code> <code>{{ dumps(c.args) }}</code></li>{% endfor %}</ul>
  <small>Each call that needs approval is asked on its own page.</small>
  {% endif %}
</section>
{% else %}
<section class="card">
  <h2>What you are asked</h2>
  {{ render(s.payload) }}
</section>
{% endif %}
{% if s.status == "pending" %}
<section class="card">
  <h2>Your answer</h2>
  {% if error %}<p class="error" role="alert">{{ error }}</p>{% endif %}
  <form method="post" action="/inbox/{{ s.token }}">
    <input type="hidden" name="csrf" value="{{ csrf }}">
    <input type="hidden" name="request_id" value="{{ request_id }}">
    {% if tool %}
      <fieldset class="arguments">
        <legend>Arguments of <code>{{ tool.tool }}</code>: change them, then “Run with these arguments”</legend>
        {% for f in tool.fields %}{{ field(f, "a-" ~ loop.index) }}{% else %}
        <label for="arguments">Arguments (JSON)</label>
        <textarea id="arguments" name="arguments" rows="8">{{ values.get("arguments", tool.arguments_json) }}</textarea>
        {% endfor %}
      </fieldset>
      <label for="reason">Reason (required to reject: the model is told)</label>
      <textarea id="reason" name="reason" rows="2">{{ values.get("reason", "") }}</textarea>
      <div class="buttons">
        <button type="submit" name="decision" value="approve" class="approve">Approve</button>
        <button type="submit" name="decision" value="edit" class="edit">Run with these arguments</button>
        <button type="submit" name="decision" value="reject" class="reject">Reject</button>
      </div>
    {% elif gate %}
      <label for="notes">Notes (optional)</label>
      <textarea id="notes" name="notes" rows="2">{{ values.get("notes", "") }}</textarea>
      <label for="edited">Edited text (for “Save edit”)</label>
      <textarea id="edited" name="edited" rows="6">{{ values.get("edited", gate_draft) }}</textarea>
      <div class="buttons">
        <button type="submit" name="decision" value="approve" class="approve">Approve</button>
        <button type="submit" name="decision" value="edit">Save edit</button>
        <button type="submit" name="decision" value="reject" class="reject">Reject</button>
      </div>
    {% elif fields %}
      {% for f in fields %}{{ field(f, "f-" ~ loop.index) }}{% endfor %}
      <div class="buttons"><button type="submit" class="approve">Submit</button></div>
    {% else %}
      <label for="json">Answer (JSON)</label>
      <textarea id="json" name="json" rows="6">{{ values.get("json", "") }}</textarea>
      <div class="buttons"><button type="submit" class="approve">Submit</button></div>
    {% endif %}
  </form>
  {% if s.expects %}
  <details><summary>What the answer must look like (JSON Schema)</summary><pre>{{ dumps(s.expects) }}</pre></details>
  {% endif %}
  <form method="post" action="/inbox/{{ s.token }}/cancel" class="cancel">
    <input type="hidden" name="csrf" value="{{ csrf }}">
    <button type="submit" class="link">Cancel this run</button>
  </form>
</section>
{% endif %}
{% endblock %}
""",
}
