"""Backup and restore of sites as portable JSON lines.

A backup is not a Redis ``DUMP`` (whose payload differs between Valkey and Redis versions):
each key under a site's hash tag is written by its type, in chunks, so a backup streams in
constant memory and restores on any server. :mod:`counter.backup.codec` describes the file,
:mod:`counter.backup.dump` writes it, :mod:`counter.backup.load` reads it back.
"""
