"""Flask application factory and HTTP endpoints for SoftFactory."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, current_app, g, jsonify, request
from flask.json.provider import DefaultJSONProvider
from flask.typing import ResponseReturnValue
from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, selectinload, sessionmaker

from .models import Chef, Dish, Product, Review
from .seed import ensure_database, ensure_server_database

DEFAULT_DB = Path(__file__).resolve().parent / "instance" / "softfactory.db"
MAX_PER_PAGE = 100

api = Blueprint("softfactory", __name__)


class _OrderedJSON(DefaultJSONProvider):
    sort_keys = False  # keep fields in the order the handlers build them


def db_path() -> Path:
    """The SQLite file in use: ``$SOFTFACTORY_DB`` or the bundled default."""
    return Path(os.environ.get("SOFTFACTORY_DB") or DEFAULT_DB).resolve()


def database_url() -> str | None:
    """A database server's SQLAlchemy URL from ``$SOFTFACTORY_DATABASE_URL`` (None: SQLite).

    ``$VARS`` in it are expanded, so one setting can name a database per side of an A/B check:
    ``.../softfactory_$PERFGATE_SIDE``."""
    url = os.environ.get("SOFTFACTORY_DATABASE_URL")
    return os.path.expandvars(url) if url else None


def _session() -> Session:
    # One Session per request, opened lazily so /health never touches the DB.
    if "db_session" not in g:
        g.db_session = current_app.extensions["softfactory.sessionmaker"]()
    session: Session = g.db_session
    return session


def _close_session(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


def _money(cents: int) -> float:
    return cents / 100


def _error(message: str, status: int) -> ResponseReturnValue:
    return jsonify(error=message), status


@api.get("/health")
def health() -> ResponseReturnValue:
    return jsonify(status="ok")


@api.get("/api/coocook/chefs")
def list_chefs() -> ResponseReturnValue:
    """All chefs with their dishes, each dish's average rating and review count.

    Deliberately N+1: one SELECT for the chefs, then one SELECT per chef for
    that chef's dishes and review aggregates. A request therefore runs exactly
    ``1 + number_of_chefs`` SELECT statements (41 with the default seed).
    perfgate's query counting is meant to flag exactly this pattern.
    """
    session = _session()
    chefs = session.scalars(select(Chef).order_by(Chef.id)).all()
    result: list[dict[str, Any]] = []
    for chef in chefs:
        rows = session.execute(
            select(
                Dish.id, Dish.name, Dish.price_cents, func.avg(Review.rating), func.count(Review.id)
            )
            .outerjoin(Review, Review.dish_id == Dish.id)
            .where(Dish.chef_id == chef.id)
            .group_by(Dish.id)
            .order_by(Dish.id)
        ).all()
        dishes = [
            {
                "id": dish_id,
                "name": name,
                "price": _money(cents),
                # float(): PostgreSQL's AVG is a NUMERIC, which JSON would write as a string.
                "avg_rating": None if avg is None else round(float(avg), 2),
                "review_count": count,
            }
            for dish_id, name, cents, avg, count in rows
        ]
        result.append(
            {"id": chef.id, "name": chef.name, "specialty": chef.specialty, "dishes": dishes}
        )
    return jsonify(result)


@api.get("/api/coocook/chefs/<int:chef_id>")
def get_chef(chef_id: int) -> ResponseReturnValue:
    """One chef with every dish and its reviews (3 SELECTs: chef, dishes, reviews)."""
    chef = _session().scalar(
        select(Chef)
        .where(Chef.id == chef_id)
        .options(selectinload(Chef.dishes).selectinload(Dish.reviews))
    )
    if chef is None:
        return _error("chef not found", 404)
    return jsonify(
        id=chef.id,
        name=chef.name,
        specialty=chef.specialty,
        dishes=[
            {
                "id": dish.id,
                "name": dish.name,
                "price": _money(dish.price_cents),
                "reviews": [
                    {"id": r.id, "rating": r.rating, "comment": r.comment} for r in dish.reviews
                ],
            }
            for dish in chef.dishes
        ],
    )


def _positive_int_arg(name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer") from None
    if value < 1:
        raise ValueError(f"{name} must be at least 1")
    return value


@api.get("/api/products")
def list_products() -> ResponseReturnValue:
    """Products ordered by id, paginated and optionally filtered by ``category``."""
    try:
        page = _positive_int_arg("page", 1)
        per_page = _positive_int_arg("per_page", 20)
    except ValueError as exc:
        return _error(str(exc), 400)
    if per_page > MAX_PER_PAGE:
        return _error(f"per_page must be at most {MAX_PER_PAGE}", 400)

    query = select(Product)
    category = request.args.get("category")
    if category:
        query = query.where(Product.category == category)
    session = _session()
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    products = session.scalars(
        query.order_by(Product.id).limit(per_page).offset((page - 1) * per_page)
    ).all()
    items = [
        {
            "id": p.id,
            "name": p.name,
            "category": p.category,
            "price": _money(p.price_cents),
            "description": p.description,
        }
        for p in products
    ]
    return jsonify(items=items, page=page, per_page=per_page, total=total)


def create_app() -> Flask:
    """Build the app, creating and seeding the database first if needed."""
    url = database_url()
    engine: Engine
    if url:
        ensure_server_database(url)
        engine = create_engine(url)
    else:
        path = db_path()
        ensure_database(path)
        # check_same_thread=False: gthread workers hand pooled connections between threads.
        engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False})
    app = Flask(__name__)
    app.json = _OrderedJSON(app)
    app.extensions["softfactory.engine"] = engine
    app.extensions["softfactory.sessionmaker"] = sessionmaker(engine, expire_on_commit=False)
    app.teardown_appcontext(_close_session)
    app.register_blueprint(api)
    return app
