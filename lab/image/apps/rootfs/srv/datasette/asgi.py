"""Datasette as an ASGI application (Datasette(...).app()), served read-only from fixtures.db."""
from datasette.app import Datasette

app = Datasette(immutables=["/srv/datasette/fixtures.db"]).app()
