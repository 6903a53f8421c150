#!/bin/sh
# Renders a design to PNG.
exec python3 render.py "$@"
