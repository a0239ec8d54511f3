"""The baseline: a hello-world Flask app, served with the same gunicorn settings as rolefit."""

from flask import Flask

app = Flask(__name__)


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/hello")
def hello() -> dict[str, str]:
    return {"hello": "world"}
