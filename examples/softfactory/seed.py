"""Create and seed the SoftFactory database exactly once, even under a racing start.

Gunicorn boots its workers together and each one calls ``create_app()``. For a
SQLite file two mechanisms keep that safe:

* an exclusive ``flock`` on the database's folder, so only one process builds
  while the others wait and then find the finished file;
* the build happens in a temporary file in the same folder and is moved into
  place with ``os.replace``, so a process that skips the lock (the fast path
  below) can never open a half-written database.

On a database server (PostgreSQL, ``$SOFTFACTORY_DATABASE_URL``) one transaction
holds an advisory lock, checks the schema marker and builds if it is missing, so
the other workers wait and then find the finished tables.

Run as a script (``python -m examples.softfactory.seed --fresh``) it rebuilds the
configured database from scratch: a setup step that gives every run the same data.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import random
import sqlite3
import tempfile
from pathlib import Path

from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.orm import Session

from .models import SCHEMA_VERSION, Base, Chef, Dish, Meta, Product, Review

SEED = 20240611
_LOCK_KEY = 20240611  # the advisory lock that serializes seeding on a database server
N_CHEFS = 40
N_PRODUCTS = 500
CATEGORIES = (
    "bakeware", "cookbooks", "cookware", "knives",
    "pantry", "small-appliances", "spices", "tableware",
)  # fmt: skip

_FIRST = ("Ada", "Bruno", "Chiara", "Dmitri", "Elif", "Farid", "Greta", "Hiro",
          "Ines", "Jonas", "Kemi", "Luca", "Mina", "Nils", "Olga", "Pablo")  # fmt: skip
_LAST = ("Almeida", "Berger", "Costa", "Dubois", "Eriksen", "Fujita", "Garcia",
         "Horvat", "Iyer", "Jensen", "Kowalski", "Laine", "Moreau", "Novak")  # fmt: skip
_CUISINES = ("Basque", "Cantonese", "Levantine", "Nordic", "Oaxacan", "Punjabi", "Roman")
_DISH_BASE = ("risotto", "dumplings", "tagine", "ramen", "gnocchi", "curry", "stew",
              "tart", "flatbread", "ceviche", "pilaf", "soup", "skewers", "salad")  # fmt: skip
_DISH_STYLE = ("smoked", "charred", "slow-braised", "crispy", "spiced", "wild herb",
               "brown butter", "citrus", "fermented", "garden")  # fmt: skip
_COMMENTS = {
    1: "Would not order again.",
    2: "Underwhelming for the price.",
    3: "Fine, nothing memorable.",
    4: "Really good, would recommend.",
    5: "Outstanding, the best I have had.",
}
_PRODUCT_ADJ = ("Classic", "Pro", "Compact", "Heritage", "Everyday", "Artisan", "Nordic", "Studio")
_PRODUCT_NOUN = {
    "bakeware": ("loaf tin", "sheet pan", "tart ring", "muffin tray"),
    "cookbooks": ("vegetable atlas", "bread manual", "spice primer", "weeknight guide"),
    "cookware": ("saucepan", "skillet", "dutch oven", "wok"),
    "knives": ("chef knife", "paring knife", "bread knife", "santoku"),
    "pantry": ("olive oil", "sea salt", "balsamic", "dried porcini"),
    "small-appliances": ("blender", "kettle", "stand mixer", "rice cooker"),
    "spices": ("smoked paprika", "sumac", "garam masala", "black pepper"),
    "tableware": ("dinner plate", "serving bowl", "linen napkin", "wine glass"),
}


def _build(session: Session, rng: random.Random) -> None:
    # Every value comes from the seeded rng and insertion order fixes the ids,
    # so two fresh databases are identical row for row.
    session.add(Meta(key="schema_version", value=SCHEMA_VERSION))
    for _ in range(N_CHEFS):
        chef = Chef(
            name=f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
            specialty=rng.choice(_CUISINES),
        )
        for _ in range(rng.randint(3, 8)):
            dish = Dish(
                name=f"{rng.choice(_DISH_STYLE)} {rng.choice(_DISH_BASE)}",
                price_cents=rng.randrange(800, 4500, 50),
            )
            # Zero reviews is allowed: a brand-new dish has no rating yet.
            for _ in range(rng.randint(0, 10)):
                rating = rng.randint(1, 5)
                dish.reviews.append(Review(rating=rating, comment=_COMMENTS[rating]))
            chef.dishes.append(dish)
        session.add(chef)
    for i in range(N_PRODUCTS):
        category = CATEGORIES[i % len(CATEGORIES)]
        noun = rng.choice(_PRODUCT_NOUN[category])
        adj = rng.choice(_PRODUCT_ADJ)
        session.add(
            Product(
                name=f"{adj} {noun} #{i + 1}",
                category=category,
                price_cents=rng.randrange(299, 25000),
                description=f"{noun.capitalize()} from the {adj} line of our {category} range.",
            )
        )


def is_current(path: Path) -> bool:
    """True if ``path`` is a readable SoftFactory database with the current schema marker."""
    if not path.exists():
        return False
    try:
        # Read-only URI: checking must never create or modify the file.
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return False  # missing table, or not a database at all
    return row is not None and row[0] == SCHEMA_VERSION


def ensure_database(path: Path) -> None:
    """Make sure ``path`` holds a current, fully seeded database; build it if not."""
    if is_current(path):
        return
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    # Locking the folder itself avoids leaving a stray lock file behind.
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(dir_fd, fcntl.LOCK_EX)
        if is_current(path):  # another worker finished while we waited
            return
        fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{path.stem}-build-", suffix=".db")
        os.close(fd)
        try:
            engine = create_engine(f"sqlite:///{tmp_name}")
            try:
                Base.metadata.create_all(engine)
                with Session(engine) as session, session.begin():
                    _build(session, random.Random(SEED))
            finally:
                engine.dispose()
            os.replace(tmp_name, path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
    finally:
        os.close(dir_fd)  # also releases the lock


def _has_current_schema(conn: Connection) -> bool:
    if not inspect(conn).has_table("meta"):
        return False
    marker = conn.scalar(select(Meta.value).where(Meta.key == "schema_version"))
    return marker == SCHEMA_VERSION


def ensure_server_database(url: str) -> None:
    """Make sure the database at ``url`` (which must exist) holds the current seeded tables."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            # Held until this transaction ends: one worker builds, the others wait, then see it.
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
            if _has_current_schema(conn):
                return
            Base.metadata.drop_all(conn)
            Base.metadata.create_all(conn)
            with Session(bind=conn) as session:
                _build(session, random.Random(SEED))
                session.flush()
    finally:
        engine.dispose()


def recreate_server_database(url: URL) -> None:
    """Drop and create the database ``url`` names, through the server's ``postgres`` database."""
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    name = admin.dialect.identifier_preparer.quote(url.database or "")
    try:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            conn.execute(text(f"CREATE DATABASE {name}"))
    finally:
        admin.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Create and seed the SoftFactory database.")
    parser.add_argument(
        "--fresh", action="store_true", help="drop what is there first (same data every run)"
    )
    args = parser.parse_args(argv)
    # Imported here: app imports this module.
    from .app import database_url, db_path

    url = database_url()
    if url:
        if args.fresh:
            recreate_server_database(make_url(url))
        ensure_server_database(url)
        print(f"seeded {make_url(url).render_as_string(hide_password=True)}")
        return
    path = db_path()
    if args.fresh:
        path.unlink(missing_ok=True)
    ensure_database(path)
    print(f"seeded {path}")


if __name__ == "__main__":
    main()
