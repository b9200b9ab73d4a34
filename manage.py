#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

# Commands that run greenlets (chat, lc_run, the watchdog) need gevent's patches before anything
# imports sockets or psycopg (notes: serving-under-gevent, fact 12).
from gevent import monkey

monkey.patch_all()

import os  # noqa: E402
import sys  # noqa: E402


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "engine.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
