"""Catalog errors: movies and the names (genres, stars, directors, certifications).
Each carries an HTTP status and a stable error code (the base classes: domain/errors.py)."""

from __future__ import annotations

from domain.errors import Conflict, NotFound


class MovieNotFound(NotFound):
    code = "movie_not_found"
    default_detail = "Movie with the given UUID was not found."


class NameNotFound(NotFound):
    code = "name_not_found"
    default_detail = "Nothing with the given id was found."


class NameTaken(Conflict):
    """A genre, star, director or certification of that name (ignoring case) exists."""

    code = "name_taken"


class MovieExists(Conflict):
    """A movie with that name (ignoring case) and year exists."""

    code = "movie_exists"


class NameInUse(Conflict):
    """A genre, star, director or certification that movies still use cannot be deleted."""

    code = "name_in_use"


class MovieNotArchived(Conflict):
    code = "movie_not_archived"
    default_detail = "The movie is not archived."
