# TIFF uploads through the running system: tiled and stripped, classic and
# BigTIFF, JPEG-in-TIFF, grey and colour with associated and unassociated
# alpha, each identical to tiler-worker --local on the same file; kinds not
# decoded are refused with 415 naming what. The files are written with
# libtiff by t/tools/tiler-mktiff. A 256-pixel tile size puts tile rows of
# the job across TIFF tiles and strips of other heights.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use TilerTest;

# TilerMaxBandBytes 1 MiB: a band of 256-pixel tiles is over it from 1,000
# pixels wide (blur:2), where a band-decoded upload gets 128-pixel tiles.
my $t = TilerTest->new(name => 'tiff', directives => "TilerTileSize 256\nTilerMaxBandBytes 1048576\n");
$t->start_all(workers => 2);

sub mktiff {
    my ($name, @words) = @_;
    my $path = $t->dir . "/$name";
    system($t->bin('t/tools/tiler-mktiff'), $path, @words) == 0 or die "tiler-mktiff $name failed";
    return $path;
}

my @cases = (
    [mktiff('tiled-jpeg.tif', 700, 530, qw(rgb jpeg ycbcr tile=128 seed=31)), 'blur:2,invert'],
    [mktiff('stripped-rgba-lzw.tif', 610, 300, qw(rgba lzw predictor rps=16 seed=32)), 'sharpen,grayscale'],
    [mktiff('big-tiled-greya-assoc.tif', 530, 400, qw(greya deflate assoc tile=64 big seed=33)), 'blur:1.5'],
    [mktiff('big-stripped-grey.tif', 300, 700, qw(grey packbits big rps=9 seed=34)), 'invert'],
    [mktiff('tiled-rgba-unassoc.tif', 520, 270, qw(rgba deflate tile=256 seed=35)), 'rotate:90,blur:1'],
    [mktiff('one-strip-rgb.tif', 400, 300, qw(rgb deflate rps=300 seed=36)), 'edges'],
    [mktiff('wide-tiled.tif', 1200, 300, qw(rgb deflate tile=64 seed=37)), 'blur:2'],
    [mktiff('wide-stripped.tif', 1200, 300, qw(rgb deflate rps=32 seed=38)), 'blur:2'],
);
my @jobs;
for my $c (@cases) {
    my ($r, $j) = $t->submit($c->[0], $c->[1], type => 'image/tiff');
    my ($name) = $c->[0] =~ m{([^/]+)$};
    is($r->{status}, 202, "$name accepted") or diag($r->{content});
    push @jobs, [$j->{id}, $name, @$c];
}
for my $j (@jobs) {
    my ($final) = $t->wait_job($j->[0]);
    is($final->{state}, 'done', "$j->[1]: done") or diag($final->{error});
    my ($msg, $same) = $t->matches_local($j->[0], $j->[2], $j->[3]);
    ok($same, "$j->[1] with $j->[3]: local mode's pixels ($msg)");
}

# Tiled files go to the workers undecoded (each task carries the tiles under
# its source) unless the workers would decode too much of the file over
# again: 256-pixel tiles under 256-pixel tasks with a halo are decoded here.
{
    my $log = TilerTest::slurp($t->dir . '/logs/error.log');
    my %want = ('tiled-jpeg.tif' => 1, 'big-tiled-greya-assoc.tif' => 1, 'tiled-rgba-unassoc.tif' => 0,
                'stripped-rgba-lzw.tif' => 0, 'big-stripped-grey.tif' => 0, 'one-strip-rgb.tif' => 0,
                'wide-tiled.tif' => 1, 'wide-stripped.tif' => 0);
    for my $j (@jobs) {
        my ($line) = $log =~ /(AH30406: job $j->[0] queued: [^\n]*)/;
        my $workers = ($line // '') =~ /its tiles go to the workers undecoded$/ ? 1 : 0;
        is($workers, $want{$j->[1]}, "$j->[1]: " . ($want{$j->[1]} ? 'the workers decode its tiles' : 'decoded on the web host'))
            or diag($line);
    }
    # With no band on the web host, a wide tiled TIFF keeps TilerTileSize;
    # the same image in strips gets the band's smaller tiles.
    my %tile = map { my $j = $_; ($j->[1] => ($log =~ /AH30406: job $j->[0] queued: [^\n]* in (\d+)-pixel tiles/)[0]) } @jobs;
    is($tile{'wide-tiled.tif'}, 256, 'a wide tiled TIFF the workers decode keeps 256-pixel tiles');
    is($tile{'wide-stripped.tif'}, 128, 'the same in strips: 128-pixel tiles, for the band');
}

# The alpha kinds give a result with alpha; the opaque ones without.
{
    my ($r) = $t->request('GET', "/tiler/api/jobs/$jobs[2][0]/result");
    # PNG IHDR colour type: byte 25 (6 RGBA, 2 RGB).
    is(ord(substr($r->{content}, 25, 1)), 6, 'grey with associated alpha: an RGBA result');
    ($r) = $t->request('GET', "/tiler/api/jobs/$jobs[0][0]/result");
    is(ord(substr($r->{content}, 25, 1)), 2, 'JPEG-in-TIFF: an RGB result');
}

# Sound TIFFs of kinds not decoded: 415, naming what, before any job.
for my $bad (['16bit.tif', [qw(bits=16)], qr/16-bit samples/], ['cmyk.tif', [qw(cmyk)], qr/CMYK/],
             ['palette.tif', [qw(palette)], qr/palette/]) {
    my $p = mktiff($bad->[0], 64, 48, @{ $bad->[1] });
    my ($r, $e) = $t->submit($p, 'invert', type => 'image/tiff');
    is($r->{status}, 415, "$bad->[0]: 415");
    is($e->{error}, 'unsupported_format', "$bad->[0]: unsupported_format");
    like($e->{message} // '', $bad->[2], "$bad->[0]: says why: " . ($e->{message} // ''));
    # Local mode refuses it the same way.
    my $out = $t->dir . "/$bad->[0].out.png";
    my $err = `@{[ $t->bin('tiler-worker/tiler-worker') ]} --local $p $out --ops invert 2>&1`;
    chomp $err;
    ok($? != 0 && $err =~ $bad->[2] && !-e $out, "$bad->[0]: local mode refuses it too: $err");
}
$t->finish;
done_testing;
