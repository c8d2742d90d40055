"""Reads a TIFF result with tifffile and with Pillow and compares both with
the PNG result of the same job (read by Pillow), sample for sample.
Usage: tiff-readers.py RESULT.tif RESULT.png. Prints one line per reader;
exits 1 when any differs."""
import sys

import numpy
import tifffile
from PIL import Image

tif, png = sys.argv[1], sys.argv[2]
want = numpy.asarray(Image.open(png))
bad = 0
with tifffile.TiffFile(tif) as t:
    page = t.pages[0]
    desc = f"bigtiff={t.is_bigtiff} tiled={page.is_tiled} tile={page.tilewidth}x{page.tilelength} compression={page.compression.name}"
for name, got in (("tifffile", tifffile.imread(tif)), ("PIL", numpy.asarray(Image.open(tif)))):
    same = got.shape == want.shape and bool((got == want).all())
    print(f"{name}: {'identical' if same else 'DIFFERS'} {got.shape} vs {want.shape} ({desc})")
    bad |= not same
sys.exit(1 if bad else 0)
