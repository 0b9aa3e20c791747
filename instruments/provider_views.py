"""Blueprint `provider_catalogue` (being built)."""

from flask import Blueprint

bp = Blueprint("provider_catalogue", __name__)
