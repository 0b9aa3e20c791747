"""Blueprint `instruments` — placeholder bodies until the public catalogue lands."""

from flask import Blueprint
from flask.typing import ResponseReturnValue

bp = Blueprint("instruments", __name__)


@bp.get("/instruments")
def list() -> ResponseReturnValue:  # noqa: A001
    return "pending", 501


@bp.get("/services")
def services() -> ResponseReturnValue:
    return "pending", 501
