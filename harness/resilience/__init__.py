"""The resilience report: one self-contained HTML page (static SVG charts), a Markdown summary and the JSON they are
drawn from, built from the results history. Heavy imports (matplotlib, Jinja2) happen only when a page is drawn."""
