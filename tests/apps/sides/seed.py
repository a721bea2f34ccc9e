"""Creates instance/shop.db with a few hundred products (run by app.setup in each side)."""

import os
import sqlite3
from pathlib import Path

folder = Path("instance")
folder.mkdir(exist_ok=True)
with sqlite3.connect(folder / "shop.db") as db:
    db.execute("DROP TABLE IF EXISTS products")
    db.execute("CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT)")
    db.executemany("INSERT INTO products (name) VALUES (?)", [(f"p{i}",) for i in range(300)])
print(f"seeded {folder / 'shop.db'} for the {os.environ.get('PERFGATE_SIDE')} side")
