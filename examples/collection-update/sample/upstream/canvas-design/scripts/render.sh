#!/bin/sh
# Renders a design to PNG or PDF.
exec python3 render.py --format "${FORMAT:-png}" "$@"
