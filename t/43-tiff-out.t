# format=tiff: a tiled BigTIFF result whose tiles the workers deflate (or,
# with compression=jpeg, JPEG-compress) and the results consumer places as
# bytes. Each result must equal the PNG result of
# the same job and local mode's TIFF, pixel for pixel, as read by three
# readers that are not ours: vips, ImageMagick, and Python's tifffile and
# Pillow. A TIFF job refuses a tile size TIFF cannot have, and its page
# shows a preview, never an <img> of the TIFF.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use TilerTest;

my $venv = $ENV{TILER_PYVENV} // "$ENV{HOME}/.cache/mod_tiler/pyvenv";
TilerTest::need(system('vips --version >/dev/null 2>&1') == 0, 'vips (Debian libvips-tools)');
TilerTest::need((`convert -version 2>/dev/null` // '') =~ /ImageMagick/, 'ImageMagick (Debian imagemagick)');
TilerTest::need(system("\"$venv/bin/python\" -c 'import tifffile, PIL, numpy, imagecodecs' 2>/dev/null") == 0,
                "tifffile, imagecodecs and Pillow in $venv (scripts/lib.sh install_python_tools)");
my $t = TilerTest->new(name => 'tiff-out', directives => "TilerTileSize 256\n");
$t->start_all(workers => 2);
my $dir = $t->dir;

# Raw 8-bit samples of an image as one reader sees it, for cmp.
sub vips_raw {
    my ($in, $out) = @_;
    return system('vips', 'rawsave', $in, $out) == 0;
}
sub im_raw {
    my ($in, $out) = @_;
    # RGBA for every kind: a grey file becomes R = G = B, opaque alpha 255.
    return system('convert', $in, '-depth', '8', "rgba:$out") == 0;
}
sub same_file { TilerTest::slurp($_[0]) eq TilerTest::slurp($_[1]) }

sub run_job {
    my ($input, $ops, $format, $compression) = @_;
    my ($r, $j) = $t->submit($input, $ops, format => $format, compression => $compression);
    return (undef, "$format: submit $r->{status}: $r->{content}") unless $r->{status} == 202;
    my ($f) = $t->wait_job($j->{id}, 120);
    return (undef, "$format: job $f->{state}: " . ($f->{error} // '')) unless $f->{state} eq 'done';
    return ($f, $j->{id});
}

my $photo = $t->make_image('photo.jpg', 1000, 700, 'jpeg', 0, 43);
my $rgba = $t->make_image('rgba.png', 600, 450, 'png', 1, 44);
my @cases = (
    ['an RGB photo', $photo, 'blur:1', 3],
    ['a grey chain', $photo, 'grayscale,sharpen', 1],
    ['an RGBA PNG', $rgba, 'invert', 4],
    ['a geometry chain', $photo, 'rotate:90,downscale:2', 3],
);
for my $c (@cases) {
    my ($what, $input, $ops, $bands) = @$c;
    my ($tj, $tid) = run_job($input, $ops, 'tiff');
    ok($tj, "$what: TIFF job done") or do { diag($tid); next };
    my ($pj, $pid) = run_job($input, $ops, 'png');
    ok($pj, "$what: PNG job done") or do { diag($pid); next };
    my ($r) = $t->request('GET', "/tiler/api/jobs/$tid/result");
    is($r->{headers}{'content-type'}, 'image/tiff', "$what: served as image/tiff");
    like($r->{headers}{'content-disposition'} // '', qr/\Q$tid\E\.tif"/, "$what: named .tif");
    is(substr($r->{content}, 0, 4), "II+\0", "$what: a little-endian BigTIFF");
    my $tif = "$dir/$tid.tif";
    TilerTest::spew($tif, $r->{content});
    my ($pr) = $t->request('GET', "/tiler/api/jobs/$pid/result");
    my $png = "$dir/$pid.png";
    TilerTest::spew($png, $pr->{content});

    my $vh = `vipsheader -a $tif 2>&1`;
    like($vh, qr/bands: $bands\b/, "$what: vips sees $bands bands");
    ok(vips_raw($tif, "$tif.vips") && vips_raw($png, "$png.vips") && same_file("$tif.vips", "$png.vips"),
       "$what: vips reads the TIFF as the PNG result, sample for sample");
    ok(im_raw($tif, "$tif.im") && im_raw($png, "$png.im") && same_file("$tif.im", "$png.im"),
       "$what: ImageMagick reads the TIFF as the PNG result, sample for sample");
    my $py = `"$venv/bin/python" "$FindBin::Bin/tools/tiff-readers.py" $tif $png 2>&1`;
    ok($? == 0, "$what: tifffile and Pillow read the TIFF as the PNG result") or diag($py);
    like($py, qr/bigtiff=True tiled=True tile=\d+x\d+ compression=ADOBE_DEFLATE/, "$what: tiled, Deflate") or diag($py);
    my ($msg, $same) = $t->imgcmp($tif, $t->local_result($input, $ops, 'tiff'));
    ok($same, "$what: identical to local mode's TIFF ($msg)");

    # Thumbnails come from the TIFF as a stream, and the page shows one.
    my ($th) = $t->request('GET', "/tiler/api/jobs/$tid/result?thumb=64");
    is($th->{status}, 200, "$what: thumbnail made from the TIFF");
    is($th->{headers}{'content-type'}, 'image/png', "$what: the thumbnail is a PNG");
    my ($pv) = $t->request('GET', "/tiler/api/jobs/$tid/result?preview");
    is($pv->{headers}{'content-type'}, 'image/png', "$what: ?preview of a TIFF is a PNG preview");
    my ($page) = $t->request('GET', "/tiler/jobs/$tid");
    like($page->{content}, qr{<img id="result" src="[^"]*/result\?thumb=\d+"}, "$what: the job page shows the preview");
    unlike($page->{content}, qr{<img[^>]*/result"}, "$what: and no <img> of the TIFF itself");
}

# compression=jpeg: each tile one baseline JPEG (quality 90, YCbCr 4:2:0 or
# grey), alpha dropped. The pixels are lossy, so: vips, ImageMagick,
# tifffile and Pillow read the same samples; the result is as close to the
# PNG result as Pillow's own JPEG of it at the same settings; and it is
# local mode's JPEG-TIFF, pixel for pixel (the same tiles: TilerTileSize
# 256 is local mode's tile side).
# A tiled TIFF upload's tasks carry its tiles (version 3) and ask for JPEG
# tiles back: the workers decode one and encode the other.
my $tiled = "$dir/tiled-upload.tif";
system($t->bin('t/tools/tiler-mktiff'), $tiled, 700, 530, qw(rgba deflate tile=128 seed=45)) == 0
    or die 'tiler-mktiff failed';
my @jpeg_cases = (
    ['JPEG tiles: an RGB photo', $photo, 'blur:1', 3, 'YCBCR'],
    ['JPEG tiles: a tiled RGBA TIFF upload, decoded by the workers', $tiled, 'blur:2', 3, 'YCBCR'],
    ['JPEG tiles: a grey chain', $photo, 'grayscale,sharpen', 1, 'MINISBLACK'],
    ['JPEG tiles: an RGBA PNG, alpha dropped', $rgba, 'invert', 3, 'YCBCR'],
);
for my $c (@jpeg_cases) {
    my ($what, $input, $ops, $bands, $photometric) = @$c;
    my ($tj, $tid) = run_job($input, $ops, 'tiff', 'jpeg');
    ok($tj, "$what: TIFF job done") or do { diag($tid); next };
    is($tj->{compression} // '', 'jpeg', "$what: the job says compression jpeg");
    if ($input eq $tiled) {
        my ($line) = TilerTest::slurp("$dir/logs/error.log") =~ /(AH30406: job $tid queued: [^\n]*)/;
        like($line // '', qr/its tiles go to the workers undecoded$/, "$what: its tasks carry the upload's tiles");
    }
    my ($pj, $pid) = run_job($input, $ops, 'png');
    ok($pj, "$what: PNG job done") or do { diag($pid); next };
    my ($r) = $t->request('GET', "/tiler/api/jobs/$tid/result");
    is($r->{headers}{'content-type'}, 'image/tiff', "$what: served as image/tiff");
    is(substr($r->{content}, 0, 4), "II+\0", "$what: a little-endian BigTIFF");
    my $tif = "$dir/$tid.tif";
    TilerTest::spew($tif, $r->{content});
    my ($pr) = $t->request('GET', "/tiler/api/jobs/$pid/result");
    my $png = "$dir/$pid.png";
    TilerTest::spew($png, $pr->{content});

    like(`vipsheader -a $tif 2>&1`, qr/bands: $bands\b/, "$what: vips sees $bands bands");
    my $im_kind = $bands == 1 ? 'gray' : 'rgb';
    ok(vips_raw($tif, "$tif.vips") && system('convert', $tif, '-depth', '8', "$im_kind:$tif.im") == 0
       && same_file("$tif.vips", "$tif.im"), "$what: vips and ImageMagick read the same samples");
    my $py = `"$venv/bin/python" "$FindBin::Bin/tools/tiff-readers.py" --jpeg $tif $png $tif.vips 2>&1`;
    ok($? == 0, "$what: tifffile, Pillow and vips agree, and it is as close to the PNG result as a JPEG") or diag($py);
    like($py, qr/bigtiff=True tiled=True tile=256x256 compression=JPEG photometric=$photometric/,
         "$what: tiled, JPEG, $photometric") or diag($py);
    note($py);
    my ($msg, $same) = $t->imgcmp($tif, $t->local_result($input, $ops, 'tiff', 'jpeg'));
    ok($same, "$what: identical to local mode's JPEG-TIFF ($msg)");

    my ($th) = $t->request('GET', "/tiler/api/jobs/$tid/result?thumb=64");
    is($th->{status}, 200, "$what: thumbnail made from the TIFF");
    is($th->{headers}{'content-type'}, 'image/png', "$what: the thumbnail is a PNG");
    my ($pv) = $t->request('GET', "/tiler/api/jobs/$tid/result?preview");
    is($pv->{headers}{'content-type'}, 'image/png', "$what: ?preview of a JPEG-TIFF is a PNG preview");
    my ($page) = $t->request('GET', "/tiler/jobs/$tid");
    like($page->{content}, qr{<dd>TIFF \(tiled BigTIFF, JPEG\)</dd>}, "$what: the job page names the compression");
    like($page->{content}, qr{<img id="result" src="[^"]*/result\?thumb=\d+"}, "$what: the job page shows the preview");
}

# The same in a form: the compression field, as the ops and format fields.
{
    my $b = 'tilerTiffOutBoundary';
    my $form = join('', map { "--$b\r\nContent-Disposition: form-data; name=\"$_->[0]\"\r\n\r\n$_->[1]\r\n" }
                            ['ops', 'invert'], ['format', 'tiff'], ['compression', 'jpeg'])
             . "--$b\r\nContent-Disposition: form-data; name=\"image\"; filename=\"photo.jpg\"\r\n"
             . "Content-Type: image/jpeg\r\n\r\n" . TilerTest::slurp($photo) . "\r\n--$b--\r\n";
    my ($r, $j) = $t->request('POST', '/tiler/api/jobs', content => $form,
                              headers => { 'Content-Type' => "multipart/form-data; boundary=$b" });
    is($r->{status}, 202, 'a form asking for JPEG tiles: 202') or diag($r->{content});
    my ($f) = $j ? $t->wait_job($j->{id}, 120) : ({});
    is($f->{state} // '', 'done', 'its job is done');
    is($f->{compression} // '', 'jpeg', 'with JPEG tiles');
    my $g = $j ? ($t->request('GET', "/tiler/api/jobs/$j->{id}/result"))[0] : undef;
    my $tif = "$dir/form.tif";
    TilerTest::spew($tif, $g ? $g->{content} : '');
    my ($msg, $same) = $t->imgcmp($tif, $t->local_result($photo, 'invert', 'tiff', 'jpeg'));
    ok($same, "the form's result is local mode's JPEG-TIFF ($msg)");
}

# A Deflate TIFF says so, given or not; compression goes with format=tiff
# only, and takes deflate or jpeg.
{
    my ($r, $j) = $t->submit($photo, 'invert', format => 'tiff', compression => 'deflate');
    is($r->{status}, 202, 'compression=deflate: 202');
    my ($f) = $j ? $t->wait_job($j->{id}, 120) : ({});
    is($f->{compression} // '', 'deflate', 'the job says deflate');
    my $g = $j ? ($t->request('GET', "/tiler/api/jobs/$j->{id}/result"))[0] : undef;
    TilerTest::spew("$dir/deflate.tif", $g ? $g->{content} : '');
    my ($msg, $same) = $t->imgcmp("$dir/deflate.tif", $t->local_result($photo, 'invert', 'tiff'));
    ok($same, "compression=deflate is the Deflate TIFF ($msg)");
    my (undef, $list) = $t->request('GET', '/tiler/api/jobs');
    my @png = grep { $_->{format} eq 'png' } @{ $list->{jobs} // [] };
    ok(@png && !grep({ exists $_->{compression} } @png), 'a PNG job has no compression field');
    for my $bad (['format=png&compression=jpeg', qr/compression is only for format=tiff/],
                 ['compression=jpeg', qr/compression is only for format=tiff.*a png result/],
                 ['format=jpeg&compression=deflate', qr/compression is only for format=tiff/],
                 ['format=tiff&compression=lzw', qr/compression must be deflate or jpeg/],
                 ['format=tiff&compression=JPEG', qr/compression must be deflate or jpeg/],
                 ['format=tiff&compression=', qr/compression must be deflate or jpeg/]) {
        my ($q, $why) = @$bad;
        my ($e, $ej) = $t->request('POST', "/tiler/api/jobs?ops=invert&$q", content => TilerTest::slurp($photo),
                                   headers => { 'Content-Type' => 'image/jpeg' });
        is($e->{status}, 400, "$q: 400");
        is($ej->{error} // '', 'bad_format', "$q: bad_format");
        like($ej->{message} // '', $why, "$q: saying why") or diag($e->{content});
    }
}

# TIFF tiles are multiples of 16: 256 / 32 = 8 is refused before the body
# (an empty one here: it is never read).
{
    my ($r, $e) = $t->request('POST', '/tiler/api/jobs?ops=downscale:8,downscale:4&format=tiff', content => '',
                              headers => { 'Content-Type' => 'image/png' });
    is($r->{status}, 400, 'a chain that would make 8-pixel TIFF tiles: 400');
    is($e->{error} // '', 'bad_format', 'error bad_format');
    like($r->{content}, qr/8 pixels a side.*multiple of 16/, 'saying why') or diag($r->{content});
    my ($p, $pj) = $t->submit($photo, 'downscale:8,downscale:4', format => 'png');
    is($p->{status}, 202, 'the same chain is fine for a PNG');
    $t->wait_job($pj->{id}, 60) if $pj;
}

$t->finish;

# Rows of tiles wider than the TIFF reader takes (256 MiB a row of tiles,
# for the result's thumbnail, preview and zoomable view): only a
# TilerMaxBandBytes over 256 MiB leaves tiles this large on a wide image.
# 32,769 wide in 2048-pixel tiles: 17 tiles of 16 MiB.
{
    my $w = TilerTest->new(name => 'tiff-wide', directives => "TilerTileSize 2048\nTilerMaxBandBytes 1073741824\n");
    $w->start_httpd;
    my $img = $w->make_image('wide.png', 32769, 1, 'png', 0, 3);
    my ($r, $e) = $w->submit($img, 'invert', format => 'tiff');
    is($r->{status}, 400, 'a TIFF result whose rows of tiles its reader would refuse: 400');
    is($e->{error} // '', 'bad_format', 'error bad_format');
    like($r->{content}, qr/32769 pixels wide in 2048-pixel tiles would have rows of tiles of 272 MiB, over the 256 MiB/,
         'saying why') or diag($r->{content});
    $w->finish;
}
done_testing;
