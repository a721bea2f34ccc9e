"""SoftFactory: the small Flask + SQLAlchemy API that perfgate's quick start measures."""
