# Every op through the running system, alone and in chains that mix them,
# on an image of several tiles with transparency: each result is the pixels
# of tiler-worker --local on the whole image. A 256-pixel tile puts tile
# borders inside the image, where a missing halo would show as seams.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use TilerTest;

# TilerMaxBandBytes at its least, 1 MiB: the 700- and 610-pixel-wide images
# keep 256-pixel tiles, a 2000-pixel-wide one gets smaller ones.
# TilerPngRows On: every op's PNG result, flips, rotations and downscales
# included, is joined from the workers' deflated rows (the other tests'
# PNGs are deflated from a raster, the default).
my $t = TilerTest->new(name => 'ops', directives => "TilerTileSize 256\nTilerMaxBandBytes 1048576\nTilerPngRows On\n");
$t->start_all(workers => 2);
my $png = $t->make_image('ops.png', 700, 530, 'png', 1, 17);
my $jpg = $t->make_image('ops.jpg', 610, 300, 'jpeg', 0, 18);
my $wide = $t->make_image('wide.png', 2000, 90, 'png', 1, 19);

my @cases = (
    map({ [$png, $_] } 'sharpen', 'sharpen:2.5:3', 'edges', 'brightness:-60', 'brightness:90', 'contrast:1.8',
        'contrast:0', 'gamma:0.45', 'gamma:2.2', 'threshold:100'),
    [$png, 'edges,blur:1.5,sharpen:1:2'],
    [$png, 'gamma:1.5,sharpen:0.7,edges,threshold:40'],
    [$png, 'blur:2,edges,contrast:3,invert'],
    [$jpg, 'brightness:25,sharpen:1.2:1.5,grayscale'],
    [$jpg, 'threshold:128,blur:1'],
    # Geometry: each alone, then mixed with filters before and after, so
    # that halos cross flips, rotations and downscales (700 and 530 are not
    # multiples of 256 nor of 8: the short cells sit at the far edge).
    map({ [$png, $_] } 'flip:h', 'flip:v', 'rotate:90', 'rotate:180', 'rotate:270', 'downscale:2', 'downscale:4',
        'downscale:8'),
    [$png, 'blur:2,rotate:90,sharpen:1:2'],
    [$png, 'flip:v,edges,downscale:2,blur:1.5,rotate:270'],
    [$png, 'downscale:2,flip:h,blur:3,downscale:4,gamma:2'],
    [$jpg, 'rotate:180,grayscale,blur:1,flip:h'],
    [$jpg, 'sharpen,downscale:8,downscale:8,edges'],
    # 2000 x (256 + 2 halo) x 4 bytes is over 1 MiB: 128-pixel tiles for
    # invert (1,024,000 bytes), 64 for blur:2 (halo 6: 1,120,000 at 128).
    [$wide, 'invert'], [$wide, 'blur:2'], [$wide, 'blur:2,downscale:2'],
);
my @jobs;
for my $c (@cases) {
    my ($r, $j) = $t->submit($c->[0], $c->[1]);
    is($r->{status}, 202, "$c->[1] accepted") or diag($r->{content});
    push @jobs, [$j->{id}, @$c];
}
my %tile = ('invert' => 128, 'blur:2' => 64, 'blur:2,downscale:2' => 32);
# The result's size, as the job says it (the upload's is 700 x 530).
my %size = ('rotate:90' => '530x700', 'rotate:270' => '530x700', 'downscale:2' => '350x265',
            'downscale:8' => '88x67', 'flip:v,edges,downscale:2,blur:1.5,rotate:270' => '265x350');
for my $j (@jobs) {
    my ($final) = $t->wait_job($j->[0]);
    is($final->{state}, 'done', "$j->[2]: done") or diag($final->{error});
    is("$final->{width}x$final->{height}", $size{$j->[2]}, "$j->[2]: the result is $size{$j->[2]}")
        if $size{$j->[2]};
    is("$final->{upload_width}x$final->{upload_height}", '700x530', "$j->[2]: the upload's size kept") if $size{$j->[2]};
    if ($j->[1] eq $wide) {
        is($final->{tile_size}, $tile{$j->[2]}, "$j->[2] on 2000 pixels wide: $tile{$j->[2]}-pixel tiles (TilerMaxBandBytes)");
    } else {
        my $k = 1;
        $k *= $_ for $j->[2] =~ /downscale:(\d)/g;
        is($final->{tile_size}, 256 / $k, "$j->[2]: TilerTileSize / the chain's downscale, $k");
    }
    my ($msg, $same) = $t->matches_local($j->[0], $j->[1], $j->[2]);
    ok($same, "$j->[2] on " . ($j->[1] =~ /\.jpg$/ ? 'a JPEG' : 'a PNG with alpha') . ": local mode's pixels ($msg)");
}

like(TilerTest::slurp($t->dir . '/logs/error.log'), qr/AH30406: job \w+ queued: 2000x90 png, .*; a 2000x90 result in 64-pixel tiles/,
     'the error log says which tile size a job got');

# Refused as the README says, before any upload is read.
for my $bad (['sharpen:20', qr/sharpen\[:SIGMA\[:AMOUNT\]\]: 20 is outside \(0, 16\]/],
             ['brightness', qr/needs its parameter: brightness:DELTA/],
             ['threshold:1.5', qr/not a whole number/], ['gamma:0', qr/outside \[0\.1, 10\]/],
             ['edges:2', qr/takes no argument/], ['flip:x', qr/flip:h\|v: 'x' is not h or v/],
             ['rotate:45', qr/rotate:90\|180\|270: 45 is not one of those/],
             ['downscale:3', qr/downscale:2\|4\|8: 3 is not one of those/],
             ['downscale:8,downscale:8,downscale:2', qr/downscale by 128 in all, more than 64/]) {
    my ($r, $e) = $t->submit($png, $bad->[0]);
    is($r->{status}, 400, "$bad->[0]: 400");
    like($e->{message} // '', $bad->[1], "...saying why: " . ($e->{message} // ''));
}
$t->finish;
done_testing;
