"""Blueprint `accounts` — placeholder bodies until the accounts slice lands."""

from flask import Blueprint, redirect, url_for
from flask.typing import ResponseReturnValue
from flask_login import logout_user

bp = Blueprint("accounts", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    return "sign-in form pending", 501


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    logout_user()
    return redirect(url_for("core.home"))


@bp.route("/register", methods=["GET", "POST"])
def register() -> ResponseReturnValue:
    return "registration pending", 501


@bp.route("/account/password", methods=["GET", "POST"])
def change_password() -> ResponseReturnValue:
    return "pending", 501


@bp.get("/home")
def home() -> ResponseReturnValue:
    return "pending", 501
