"""The throwaway PostgreSQL server the database tests rely on really runs and isolates databases."""

from __future__ import annotations

from tests.postgres import PostgresServer


def test_server_answers_and_keeps_databases_apart(postgres: PostgresServer) -> None:
    postgres.psql("CREATE DATABASE fixture_a")
    postgres.psql("CREATE DATABASE fixture_b")
    postgres.psql("CREATE TABLE t (n int); INSERT INTO t VALUES (1), (2)", database="fixture_a")
    assert postgres.psql("SELECT count(*) FROM t", database="fixture_a") == "2"
    tables = postgres.psql("SELECT count(*) FROM pg_tables WHERE tablename = 't'", "fixture_b")
    assert tables == "0"
    assert postgres.psql("SHOW listen_addresses") == "127.0.0.1"
    postgres.psql("DROP DATABASE fixture_a")
    postgres.psql("DROP DATABASE fixture_b")
