"""WSGI entry point for gunicorn: ``gunicorn service.wsgi:app``."""

from service import create_app
from service.infra.garbage_collector import freeze_startup_objects

app = create_app()
freeze_startup_objects()  # a worker's start-up objects are never garbage (see the module)
