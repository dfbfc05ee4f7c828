"""The resilience report: an HTML page, a Markdown summary and their JSON, from the results history.

The page is self-contained (static SVG charts, no script). Heavy imports (matplotlib, Jinja2) happen only when a
page is drawn.
"""
