"""Profiles: a user's names, gender, date of birth, info and avatar."""
