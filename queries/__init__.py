"""Plain SQL files run by ``reconcile query NAME``; installed as ``reconcile.sql``."""
