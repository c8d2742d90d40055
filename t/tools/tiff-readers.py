"""Reads a TIFF result with tifffile and with Pillow and compares both with
the PNG result of the same job (read by Pillow), sample for sample.
Usage: tiff-readers.py RESULT.tif RESULT.png. Prints one line per reader;
exits 1 when any differs.

With JPEG tiles (compression=jpeg) the pixels are lossy:
tiff-readers.py --jpeg RESULT.tif RESULT.png VIPS.raw checks that tifffile,
Pillow and vips (its rawsave output) read the same samples, and that their
distance from the PNG result (its colour: JPEG has no alpha) is no more than
Pillow's own baseline JPEG of the PNG at the same settings (quality 90,
4:2:0) is from it, within 5 %: the tiles are that JPEG, tile by tile."""
import io
import sys

import numpy
import tifffile
from PIL import Image


def describe(tif):
    with tifffile.TiffFile(tif) as t:
        page = t.pages[0]
        return (f"bigtiff={t.is_bigtiff} tiled={page.is_tiled} tile={page.tilewidth}x{page.tilelength} "
                f"compression={page.compression.name} photometric={page.photometric.name}")


def lossless(tif, png):
    want = numpy.asarray(Image.open(png))
    desc = describe(tif)
    bad = 0
    for name, got in (("tifffile", tifffile.imread(tif)), ("PIL", numpy.asarray(Image.open(tif)))):
        same = got.shape == want.shape and bool((got == want).all())
        print(f"{name}: {'identical' if same else 'DIFFERS'} {got.shape} vs {want.shape} ({desc})")
        bad |= not same
    return bad


def rmse(a, b):
    return float(numpy.sqrt(((a.astype(float) - b.astype(float)) ** 2).mean()))


def jpeg(tif, png, vips_raw):
    print(describe(tif))
    got = tifffile.imread(tif)
    pil = numpy.asarray(Image.open(tif))
    vips = numpy.fromfile(vips_raw, dtype=numpy.uint8)
    bad = 0
    if vips.size != got.size:
        print(f"vips: {vips.size} samples, tifffile {got.size}")
        return 1
    vips = vips.reshape(got.shape)
    for name, other in (("PIL", pil), ("vips", vips)):
        same = other.shape == got.shape and bool((other == got).all())
        print(f"{name}: {'identical to' if same else 'DIFFERS from'} tifffile {other.shape}")
        bad |= not same
    # The PNG result's colour, and Pillow's JPEG of it at the same settings.
    im = Image.open(png)
    im = im.convert("L" if im.mode in ("L", "LA") else "RGB")
    want = numpy.asarray(im)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90, subsampling=2)
    ref = numpy.asarray(Image.open(buf))
    ours = rmse(got, want) if got.shape == want.shape else float("inf")
    theirs = rmse(ref, want)
    close = got.shape == want.shape and ours <= theirs * 1.05 + 0.25
    print(f"PNG result: {'close' if close else 'TOO FAR'}: RMS error {ours:.3f}, Pillow's quality 90 4:2:0 JPEG {theirs:.3f}")
    bad |= not close
    return bad


if sys.argv[1] == "--jpeg":
    sys.exit(1 if jpeg(sys.argv[2], sys.argv[3], sys.argv[4]) else 0)
sys.exit(1 if lossless(sys.argv[1], sys.argv[2]) else 0)
