"""ORM schema for SoftFactory (SQLAlchemy 2.0 declarative)."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Bump whenever the schema or the seed data changes: databases carrying an
# older marker are rebuilt on the next start instead of being served stale.
SCHEMA_VERSION = "softfactory-1"


class Base(DeclarativeBase):
    pass


class Meta(Base):
    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))


class Chef(Base):
    __tablename__ = "chefs"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    specialty: Mapped[str] = mapped_column(String(50))
    dishes: Mapped[list[Dish]] = relationship(back_populates="chef", order_by="Dish.id")


class Dish(Base):
    __tablename__ = "dishes"

    id: Mapped[int] = mapped_column(primary_key=True)
    chef_id: Mapped[int] = mapped_column(ForeignKey("chefs.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    # Integer cents keep prices exact; SQLite has no real decimal type.
    price_cents: Mapped[int]
    chef: Mapped[Chef] = relationship(back_populates="dishes")
    reviews: Mapped[list[Review]] = relationship(back_populates="dish", order_by="Review.id")


class Review(Base):
    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    dish_id: Mapped[int] = mapped_column(ForeignKey("dishes.id"), index=True)
    rating: Mapped[int]
    comment: Mapped[str] = mapped_column(String(200))
    dish: Mapped[Dish] = relationship(back_populates="reviews")


class Product(Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    category: Mapped[str] = mapped_column(String(50), index=True)
    price_cents: Mapped[int]
    description: Mapped[str] = mapped_column(Text)
