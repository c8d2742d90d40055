# Hostile and odd input. Every bad request gets its expected status and a
# JSON error, and the server answers after each one; odd but valid images
# are processed exactly as local mode does; no httpd child crashes.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Compress::Zlib qw(compress crc32);
use Test::More;
use HTTP::Tiny;
use JSON::PP;
use POSIX ();
use Time::HiRes qw(sleep);
use TilerTest;

my $t = TilerTest->new(name => 'hostile', directives => "TilerMaxUploadBytes 4000000\nTilerMaxPixels 20000000\nTilerMaxJobs 3\n",
    # A tiled TIFF's tiles are decoded by the workers: bad tile data fails
    # its job there (below), which the results consumer logs.
    allow_log => [qr/AH30318: job [0-9a-f]{32} failed: tile \d+ could not be processed: input tiles: tiff image could not be decoded/]);
$t->start_all(workers => 2);
my $png = TilerTest::slurp($t->make_image('ok.png', 64, 48, 'png', 1, 81));

# A minimal PNG writer, for the colour types and depths libgd cannot write.
sub png {
    my (%o) = @_;
    my ($w, $h, $type, $depth) = @o{qw(w h type depth)};
    my $chan = { 0 => 1, 2 => 3, 4 => 2, 6 => 4 }->{$type};
    my $bpp = $chan * $depth / 8;
    my $raw = '';
    for my $y (0 .. $h - 1) {
        $raw .= "\0";
        for my $x (0 .. $w - 1) {
            for my $c (0 .. $chan - 1) {
                my $v = ($x * 37 + $y * 11 + $c * 71) % 256;
                $v = 255 - ($x + $y) % 200 if $c == $chan - 1 && ($type == 4 || $type == 6);
                $v = 255 if $c == $chan - 1 && ($type == 4 || $type == 6) && $y < ($o{opaque_rows} // 0);
                $raw .= $depth == 16 ? pack('n', $v * 257 + ($x % 7)) : chr($v);
            }
        }
    }
    my $chunk = sub { my ($k, $d) = @_; pack('N', length $d) . $k . $d . pack('N', crc32($k . $d)) };
    return "\x89PNG\r\n\x1a\n" . $chunk->('IHDR', pack('NNCCCCC', $w, $h, $depth, $type, 0, 0, 0))
         . $chunk->('IDAT', compress($raw)) . $chunk->('IEND', '');
}

my $n = 0;
sub hostile {
    my ($name, $method, $path, $want, %o) = @_;
    my $code = delete $o{code};
    my $says = delete $o{says};
    my $json = delete $o{json} // 1;
    $o{headers} //= { 'Content-Type' => 'image/png' } if $method eq 'POST';
    my ($r, $j) = $t->request($method, $path, %o);
    $n++;
    is($r->{status}, $want, "#$n $name: $want") or diag(substr($r->{content} // '', 0, 300));
    if ($want >= 400 && $r->{status} != 599 && $json) {
        ok($j && $j->{error} && length($j->{message} // ''), "#$n $name: JSON error " . ($j->{error} // 'none'));
        is($j->{error}, $code, "#$n $name: code $code") if $code;
        like($j->{message} // '', $says, "#$n $name: says why: " . ($j->{message} // '')) if $says;
    }
    my ($alive) = $t->request('GET', '/tiler/api/jobs');
    is($alive->{status}, 200, "#$n $name: server still answers");
}
my $J = '/tiler/api/jobs';
my %img = (content => $png);

hostile('text/plain body', 'POST', "$J?ops=invert", 415, %img, headers => { 'Content-Type' => 'text/plain' });
hostile('no Content-Type', 'POST', "$J?ops=invert", 415, %img, headers => {});
hostile('octet-stream', 'POST', "$J?ops=invert", 415, %img, headers => { 'Content-Type' => 'application/octet-stream' });
hostile('no ops', 'POST', $J, 400, %img, code => 'bad_ops');
hostile('empty ops', 'POST', "$J?ops=", 400, %img, code => 'bad_ops');
hostile('sigma 0', 'POST', "$J?ops=blur:0", 400, %img, code => 'bad_ops');
hostile('negative sigma', 'POST', "$J?ops=blur:-3", 400, %img, code => 'bad_ops');
hostile('exponent sigma', 'POST', "$J?ops=blur:1e2", 400, %img, code => 'bad_ops');
hostile('NaN sigma', 'POST', "$J?ops=blur:NaN", 400, %img, code => 'bad_ops');
hostile('infinite sigma', 'POST', "$J?ops=blur:inf", 400, %img, code => 'bad_ops');
hostile('extra colon', 'POST', "$J?ops=blur:3:4", 400, %img, code => 'bad_ops');
hostile('double colon', 'POST', "$J?ops=blur::3", 400, %img, code => 'bad_ops');
hostile('leading comma', 'POST', "$J?ops=,grayscale", 400, %img, code => 'bad_ops');
hostile('trailing comma', 'POST', "$J?ops=grayscale,", 400, %img, code => 'bad_ops');
hostile('NUL in ops', 'POST', "$J?ops=gray%00scale", 400, %img, code => 'bad_query');
hostile('CR LF in ops', 'POST', "$J?ops=invert%0D%0Agrayscale", 400, %img, code => 'bad_query');
hostile('high bytes in ops', 'POST', "$J?ops=%FF%FE", 400, %img, code => 'bad_ops');
hostile('17 ops', 'POST', "$J?ops=" . join(',', ('invert') x 17), 400, %img, code => 'bad_ops');
hostile('huge sigma digits', 'POST', "$J?ops=blur:" . ('9' x 40), 400, %img, code => 'bad_ops');
hostile('format gif', 'POST', "$J?ops=invert&format=gif", 400, %img, code => 'bad_format');
hostile('format twice', 'POST', "$J?ops=invert&format=png&format=jpeg", 400, %img, code => 'bad_query');
hostile('unknown parameter', 'POST', "$J?ops=invert&evil=1", 400, %img, code => 'bad_query');
hostile('bad escape', 'POST', "$J?ops=%zz", 400, %img, code => 'bad_query');
hostile('empty body', 'POST', "$J?ops=invert", 400, code => 'empty_body');
hostile('random bytes', 'POST', "$J?ops=invert", 415, content => join('', map { chr(($_ * 7919) % 256) } 1 .. 5000), code => 'unsupported_format');
hostile('truncated PNG', 'POST', "$J?ops=invert", 422, content => substr($png, 0, 120), code => 'corrupt_image');
hostile('PNG of width 0', 'POST', "$J?ops=invert", 422, content => png(w => 1, h => 1, type => 2, depth => 8) =~ s/^(.{16})..../$1\0\0\0\0/sr, code => 'corrupt_image');
hostile('PNG bomb 100000x100000', 'POST', "$J?ops=invert", 413, content => substr(png(w => 1, h => 1, type => 2, depth => 8), 0, 16) . pack('NN', 100000, 100000) . "\x08\x02\0\0\0" . ("\0" x 64), code => 'too_many_pixels');
hostile('JPEG claiming 65535x65535', 'POST', "$J?ops=invert", 413, content => "\xFF\xD8\xFF\xC0\x00\x11\x08\xFF\xFF\xFF\xFF\x03" . ("\0" x 200), code => 'too_many_pixels');
hostile('GIF header only', 'POST', "$J?ops=invert", 422, content => "GIF89a\x20\x00\x20\x00\x00\x00\x00", code => 'corrupt_image');
hostile('BMP with garbage', 'POST', "$J?ops=invert", 422, content => "BM" . ("\xFF" x 60), code => 'corrupt_image');
# An upload refused once its job was recorded: the module logs how many
# tiles had gone out (AH30480); the job is deleted and its spool folder too.
# Returns the tiles out (undef when no job was recorded).
sub refused_job {
    my ($name, $log_from) = @_;
    my $log = substr(TilerTest::slurp($t->dir . '/logs/error.log'), $log_from);
    my ($id, $out) = $log =~ /AH30480: job ([0-9a-f]{32}) refused after (\d+) tiles went out/;
    ok($id, "$name: a job was recorded, then refused (AH30480)") or return undef;
    my ($g) = $t->request('GET', "$J/$id");
    is($g->{status}, 404, "$name: the job is deleted");
    ok(!-e $t->dir . "/spool/jobs/$id", "$name: its spool folder is removed");
    return $out;
}
sub log_size { -s $t->dir . '/logs/error.log' // 0 }
{
    # Cut after its first row of tiles went out to the workers, which are
    # running here: the job it began is forgotten and their results dropped.
    my $jpeg = TilerTest::slurp($t->make_image('tall.jpg', 900, 1200, 'jpeg', 0, 83));
    my $from = log_size();
    hostile('JPEG truncated at 70 %', 'POST', "$J?ops=invert", 422, content => substr($jpeg, 0, int(length($jpeg) * 0.7)),
            headers => { 'Content-Type' => 'image/jpeg' }, code => 'corrupt_image');
    my $out = refused_job('JPEG truncated at 70 %', $from);
    ok(($out // 0) >= 1, 'JPEG truncated at 70 %: its first tiles had gone out (' . ($out // 'none') . ')');
    # IEND replaced by a broken chunk: every pixel is in, then the end
    # fails. The one 64x64 tile needs the last rows: it never goes out.
    my $sq = png(w => 64, h => 64, type => 2, depth => 8);
    substr($sq, -12) = "\0\0\x10\0IEND\1\2\3\4";   # 4096 bytes announced, 4 there
    $from = log_size();
    hostile('PNG with a broken IEND', 'POST', "$J?ops=invert", 422, content => $sq, code => 'corrupt_image');
    # Its one row of tiles needs the last rows, which wait for IEND: the
    # job is refused before it is even recorded.
    my $log = substr(TilerTest::slurp($t->dir . '/logs/error.log'), $from);
    ok($log !~ /AH30480|AH30406/, 'PNG with a broken IEND: refused before its job was recorded, so no tile went out');
}
hostile('WebP truncated', 'POST', "$J?ops=invert", 422, content => "RIFF\x20\0\0\0WEBPVP8 " . ("\0" x 20), code => 'corrupt_image');
# TIFF, the issue's hostile list: files libtiff wrote, then cut by
# t/tools/tiler-mktiff (the unit tests in t/unit/test_tiff.c say more).
{
    my $mk = sub {
        my ($name, @words) = @_;
        my $p = $t->dir . "/$name";
        system($t->bin('t/tools/tiler-mktiff'), $p, @words) == 0 or die "tiler-mktiff $name failed";
        return TilerTest::slurp($p);
    };
    my %tiff = (headers => { 'Content-Type' => 'image/tiff' });
    my @tiled = (300, 200, qw(rgb deflate tile=64));
    # A tiled TIFF's tiles go to the workers undecoded (docs/protocol.md):
    # the web host checks the tile directory against the file (422), the
    # workers the tiles' data, failing the job with the reason.
    my $fails_in_workers = sub {
        my ($name, $content, $says) = @_;
        $n++;
        my ($r, $j) = $t->request('POST', "$J?ops=invert", %tiff, content => $content);
        is($r->{status}, 202, "#$n $name: accepted (its tiles are the workers' to decode)") or return;
        my ($s) = $t->wait_job($j->{id});
        is($s->{state}, 'failed', "#$n $name: the job fails in the workers");
        like($s->{error} // '', $says, "#$n $name: says why: " . ($s->{error} // ''));
    };
    $fails_in_workers->('TIFF with a wrong tile offset', $mk->('bad-offset.tif', @tiled, 'bad-offset'),
                        qr/^tile \d+ could not be processed: input tiles: tiff image could not be decoded: /);
    hostile('TIFF with a tile past the end of the file', 'POST', "$J?ops=invert", 422, %tiff,
            content => $mk->('past-end.tif', @tiled, 'past-end'), code => 'corrupt_image',
            says => qr/^tiff image could not be decoded: tile \d+ lies past the end of the \d+-byte file/);
    $fails_in_workers->('TIFF whose byte count is short of its tile', $mk->('short-count.tif', @tiled, 'short-count'),
                        qr/^tile \d+ could not be processed: input tiles: tiff image could not be decoded: /);
    hostile('TIFF cut short', 'POST', "$J?ops=invert", 422, %tiff,
            content => substr($mk->('whole.tif', 300, 200, qw(rgb lzw rps=8)), 0, 40000), code => 'corrupt_image');
    hostile('TIFF declaring 30000x30000 in a tiny file', 'POST', "$J?ops=invert", 413, %tiff,
            content => $mk->('huge.tif', 16, 16, qw(grey huge)), code => 'too_many_pixels');
    hostile('TIFF header only', 'POST', "$J?ops=invert", 422, %tiff, content => "II*\0\x08\0\0\0", code => 'corrupt_image');
    hostile('BigTIFF of 16-bit samples', 'POST', "$J?ops=invert", 415, %tiff,
            content => $mk->('16bit.tif', 40, 30, qw(bits=16 big)), code => 'unsupported_format');
    # The review of the TIFF input (t/unit/test_tiff.c has each with the
    # decoder alone). JPEG streams smaller than their strip or tile: libtiff
    # only warns, and the rows they lack were the decoder's old heap.
    hostile('TIFF whose JPEG strips are half as wide as declared', 'POST', "$J?ops=invert", 422, %tiff,
            content => $mk->('jpeg-narrow.tif', 300, 64, qw(grey jpeg rps=32 jpeg-narrow)), code => 'corrupt_image',
            says => qr/^tiff image could not be decoded: Improper JPEG strip\/tile size, expected 600x32, got 300x32$/);
    $fails_in_workers->('TIFF whose JPEG tiles are smaller than declared',
                        $mk->('jpeg-small-tiles.tif', 256, 128, qw(rgb jpeg ycbcr tile=64 jpeg-small-tiles)),
                        qr/input tiles: tiff image could not be decoded: Improper JPEG strip\/tile size, expected 128x128, got 64x64$/);
    # libtiff's message spans two lines; the reason is one.
    hostile('TIFF whose YCbCrSubsampling is not its JPEG data\'s', 'POST', "$J?ops=invert", 422, %tiff,
            content => $mk->('ycbcr-1x1.tif', 70, 40, qw(rgb jpeg ycbcr rps=16 ycbcr-1x1)), code => 'corrupt_image',
            says => qr/^tiff image could not be decoded: Improper JPEG sampling factors 2,2 Apparently should be 1,1\.$/);
    # One JPEG strip of 20 MP (within TilerMaxPixels): libjpeg would hold a
    # progressive one's coefficients whole; refused from the directory.
    hostile('TIFF with one JPEG strip of 5000x4000', 'POST', "$J?ops=invert", 415, %tiff,
            content => $mk->('jpeg-big-strip.tif', 64, 32, qw(rgb jpeg ycbcr rps=16 jpeg-big-strip)),
            code => 'unsupported_format', says => qr/JPEG-compressed strips of 5000x4000 pixels \(at most 16 MP/);
    hostile('TIFF with 1x1 tiles', 'POST', "$J?ops=invert", 422, %tiff,
            content => $mk->('tiny-tiles.tif', 64, 64, qw(rgb deflate tile=32 tiny-tiles)), code => 'corrupt_image',
            says => qr/1x1-pixel tiles \(TIFF tiles are multiples of 16 pixels a side\)/);
    # 1x1 grey, with 300 unknown tags of 100,000 LONGs all on one 400 KB
    # block: 120 MB for libtiff to read into memory before any check.
    {
        my ($n, $c) = (300, 100_000);
        my @e = ([256, 4, 1, 1], [257, 4, 1, 1], [258, 3, 1, 8], [259, 3, 1, 1], [262, 3, 1, 1], [273, 4, 1, 0],
                 [277, 3, 1, 1], [278, 4, 1, 1], [279, 4, 1, 1], map { [40000 + $_, 4, $c, 0] } 0 .. $n - 1);
        my $data = 8 + 2 + 12 * @e + 4;
        my $f = "II*\0" . pack('V', 8) . pack('v', scalar @e)
              . join('', map { pack('vvV', @$_[0 .. 2]) . ($_->[1] == 3 ? pack('vv', $_->[3], 0) : pack('V', $_->[0] == 273 || $_->[0] >= 40000 ? $data : $_->[3])) } @e)
              . pack('V', 0) . ("\x80" x (4 * $c));
        hostile('TIFF with 300 tags of 400 KB on one block', 'POST', "$J?ops=invert", 422, %tiff, content => $f,
                code => 'corrupt_image', says => qr/the first directory's tags hold 115 MiB \(tag 40000 alone 1 MiB\), more than the 16 MiB taken/);
    }
}
hostile('over TilerMaxUploadBytes', 'POST', "$J?ops=invert", 413, content => $png . ("\0" x 4_100_000), code => 'too_large');
{
    my $left = 5_000_000;
    hostile('chunked, over the limit', 'POST', "$J?ops=invert", 413, code => 'too_large',
            content => sub { return undef if $left <= 0; $left -= 65536; return "\0" x 65536 });
}
# Encoded slashes never reach the module: httpd's core refuses them (AllowEncodedSlashes Off).
hostile('id with dot-dot', 'GET', "$J/..%2F..%2Fetc%2Fpasswd", 404, json => 0);
hostile('id with dot-dot, plain', 'GET', "$J/....etc", 404, code => 'not_found');
hostile('id uppercase', 'GET', "$J/" . ('AB' x 16), 404, code => 'not_found');
hostile('id of 1000 characters', 'GET', "$J/" . ('a' x 1000), 404, code => 'not_found');
hostile('id with NUL', 'GET', "$J/" . ('a' x 31) . '%00', 404);
hostile('PUT on jobs', 'PUT', $J, 405, code => 'method_not_allowed');
hostile('PATCH on a job', 'PATCH', "$J/" . ('ab' x 16), 405, code => 'method_not_allowed');
hostile('POST on workers', 'POST', '/tiler/api/workers', 405, content => 'x', code => 'method_not_allowed');
hostile('DELETE of an unknown job', 'DELETE', "$J/" . ('cd' x 16), 404, code => 'not_found');
hostile('multipart without boundary', 'POST', $J, 400, content => 'x', headers => { 'Content-Type' => 'multipart/form-data' }, code => 'bad_multipart');
hostile('multipart, wrong boundary', 'POST', $J, 400, content => "--a\r\nContent-Disposition: form-data; name=\"ops\"\r\n\r\ninvert\r\n--a--",
        headers => { 'Content-Type' => 'multipart/form-data; boundary=b' }, code => 'bad_multipart');
hostile('multipart with 20 parts', 'POST', $J, 400, headers => { 'Content-Type' => 'multipart/form-data; boundary=b' },
        content => join('', map { "--b\r\nContent-Disposition: form-data; name=\"x$_\"\r\n\r\nv\r\n" } 1 .. 20) . "--b--\r\n", code => 'bad_multipart');
hostile('multipart header of 9000 bytes', 'POST', $J, 400, headers => { 'Content-Type' => 'multipart/form-data; boundary=b' },
        content => "--b\r\nContent-Disposition: form-data; name=\"ops\"\r\nX-Junk: " . ('j' x 9000) . "\r\n\r\ninvert\r\n--b--\r\n", code => 'bad_multipart');
# Form parts whose bytes the module keeps in memory (ops, format) are held
# to the field limit whatever their headers say: sent as file parts
# (curl -F ops=@big.txt), 2 MB of them once overflowed a heap buffer and
# killed the httpd child. Other parts are skipped or streamed to the spool.
{
    my $fb = 'tilerHostileFormBoundary7';
    my $form = sub {   # parts: [name, filename or undef, content]
        my $body = join('', map {
            "--$fb\r\nContent-Disposition: form-data; name=\"$_->[0]\""
            . (defined $_->[1] ? "; filename=\"$_->[1]\"\r\nContent-Type: application/octet-stream" : '')
            . "\r\n\r\n$_->[2]\r\n" } @_) . "--$fb--\r\n";
        return (content => $body, headers => { 'Content-Type' => "multipart/form-data; boundary=$fb" });
    };
    my $big = 'grayscale,' x 200_000;   # 2 MB
    my $image = ['image', 'ok.png', $png];
    for my $case (['ops as a 2 MB file part', [['ops', 'x.txt', $big], $image], qr/'ops'.*4096/],
                  ['format as a 2 MB file part', [['ops', undef, 'invert'], ['format', 'x.txt', $big], $image], qr/'format'.*4096/],
                  ['ops as a 2 MB file part after the image', [$image, ['ops', 'x.txt', $big]], qr/'ops'.*4096/],
                  ['ops of 4097 bytes as a field', [['ops', undef, 'x' x 4097], $image], qr/4096/],
                  ['ops twice', [['ops', undef, 'invert'], ['ops', undef, 'grayscale'], $image], qr/'ops'.*twice/],
                  ['a NUL in ops sent as a file', [['ops', 'x.txt', "invert\0"], $image], qr/'ops'/]) {
        my ($name, $parts, $like) = @$case;
        hostile($name, 'POST', $J, 400, $form->(@$parts), code => 'bad_multipart');
        my (undef, $j) = $t->request('POST', $J, $form->(@$parts));
        like($j->{message} // '', $like, "$name: the message names the problem");
    }
    hostile('image part over TilerMaxUploadBytes', 'POST', $J, 413, $form->(['ops', undef, 'invert'], ['image', 'big.png', $png . ("\0" x 4_100_000)]),
            code => 'too_large');
    # Fields sent as small file parts are the text they hold; unknown parts,
    # large ones too, are skipped.
    my ($r, $j) = $t->request('POST', $J, $form->(['ops', 'ops.txt', 'invert'], ['format', 'f.txt', 'jpeg'], ['junk', 'junk.bin', $big], $image));
    is($r->{status}, 202, 'ops and format as small file parts, a 2 MB unknown part: 202') or diag($r->{content});
    my ($s) = $t->wait_job($j->{id}, 60);
    is_deeply([@$s{qw(state ops format)}], ['done', 'invert', 'jpeg'], 'that job: done with the ops and format sent');
}
hostile('thumb=-1', 'GET', "$J/" . ('ab' x 16) . '/result?thumb=-1', 400, code => 'bad_query');
hostile('events filter with a path', 'GET', '/tiler/api/events?job=../x', 400, code => 'bad_query');
hostile('a page name not on the list', 'GET', '/tiler/static/..%2Fhttpd.conf', 404);

# Odd but valid images: each processed exactly as local mode does.
my $dir = $t->dir;
my %odd = (
    'png-16bit-rgba.png' => png(w => 70, h => 45, type => 6, depth => 16),
    'png-16bit-rgb.png'  => png(w => 33, h => 20, type => 2, depth => 16),
    'png-grey.png'       => png(w => 50, h => 30, type => 0, depth => 8),
    'png-grey-alpha.png' => png(w => 40, h => 41, type => 4, depth => 8),
    'png-1x1.png'        => png(w => 1, h => 1, type => 6, depth => 8),
    'png-1xN.png'        => png(w => 1, h => 700, type => 2, depth => 8),
    'png-Nx1.png'        => png(w => 600, h => 1, type => 6, depth => 8),
    # Transparent only below the decoder's first 16 rows: the result keeps
    # its alpha (it was decided from the rows so far, and lost).
    'png-alpha-low.png'  => png(w => 40, h => 30, type => 6, depth => 8, opaque_rows => 16),
);
TilerTest::spew("$dir/$_", $odd{$_}) for keys %odd;
# A TIFF whose directory's next is itself: the first page is the image.
system($t->bin('t/tools/tiler-mktiff'), "$dir/tiff-ifd-loop.tif", qw(230 170 rgba lzw rps=20 loop)) == 0 or die 'tiler-mktiff';
for my $f (['png-interlaced', 'png'], ['png-palette', 'png'], ['gif-anim', 'gif'], ['jpeg-cmyk', 'jpg']) {
    $t->make_image("$f->[0].$f->[1]", 300, 200, $f->[0], 0, 82);
}
# A WebP transparent only below row 450: its first 256 KiB read decodes
# opaque rows (the file is 4 such reads).
$t->make_image('webp-alpha-low.webp', 700, 500, 'webp', 'alpha-below:450', 84);
ok(-s "$dir/webp-alpha-low.webp" > 2 * 256 * 1024, 'the WebP is several reads long');
{
    # Bytes between the last scan and the end marker, as cameras write:
    # the pixels are whole ("N extraneous bytes before marker 0xd9").
    my $jpeg = TilerTest::slurp($t->make_image('junk.jpg', 300, 200, 'jpeg', 0, 85));
    TilerTest::spew("$dir/jpeg-junk-before-end.jpg", substr($jpeg, 0, -2) . ("\x55" x 500) . "\xFF\xD9");
}
my @odd = ((sort keys %odd), 'png-interlaced.png', 'png-palette.png', 'gif-anim.gif', 'jpeg-cmyk.jpg', 'webp-alpha-low.webp',
           'jpeg-junk-before-end.jpg', 'tiff-ifd-loop.tif');
for my $f (@odd) {
    my $type = $f =~ /gif$/ ? 'image/gif' : $f =~ /jpg$/ ? 'image/jpeg' : $f =~ /webp$/ ? 'image/webp'
             : $f =~ /tif$/ ? 'image/tiff' : 'image/png';
    my ($r, $j);
    for (1 .. 60) {   # TilerMaxJobs 3: wait for room when busy
        ($r, $j) = $t->submit("$dir/$f", 'blur:2,invert', type => $type);
        last unless $r->{status} == 503;
        sleep 0.5;
    }
    is($r->{status}, 202, "$f accepted") or next;
    my ($s) = $t->wait_job($j->{id}, 60);
    is($s->{state}, 'done', "$f processed");
    my ($res) = $t->request('GET', "/tiler/api/jobs/$j->{id}/result");
    TilerTest::spew("$dir/$f.result.png", $res->{content});
    my ($msg, $same) = $t->imgcmp("$dir/$f.result.png", $t->local_result("$dir/$f", 'blur:2,invert'));
    ok($same, "$f: identical to local mode ($msg)");
}

# TilerMaxJobs: with no worker running, the fourth job waits its turn.
{
    $t->stop_process("worker$_") for 1, 2;
    my @ids;
    for (1 .. 3) { my ($r, $j) = $t->submit("$dir/png-1x1.png", 'invert'); push @ids, $j->{id} if $r->{status} == 202 }
    is(scalar @ids, 3, 'three jobs queued');
    my ($r, $j) = $t->submit("$dir/png-1x1.png", 'invert');
    is($r->{status}, 503, 'the fourth: 503');
    is($r->{headers}{'retry-after'}, '10', 'with Retry-After');
    is($j->{error}, 'too_many_jobs', 'too_many_jobs');
    $t->start_worker($_) for 1, 2;
    $t->wait_job($_, 60) for @ids;
    ($r) = $t->submit("$dir/png-1x1.png", 'invert');
    is($r->{status}, 202, 'room again once they are done');
}

# Uploads arriving together all pass the TilerMaxJobs check made before the
# body is read (a job is recorded at its first decoded rows). At most
# TilerMaxJobs decode at once, across the children, and the count is taken
# again once the upload is in: 10 at once give at most 3 jobs, the rest
# 503 too_many_jobs.
{
    my $par = $t->make_image('par.jpg', 2000, 1400, 'jpeg', 0, 86);
    my $body = TilerTest::slurp($par);
    my (undef, $list) = $t->request('GET', $J);
    $t->wait_job($_->{id}, 60) for grep { $_->{state} =~ /queued|running/ } @{ $list->{jobs} // [] };
    $t->stop_process("worker$_") for 1, 2;
    my @kids;
    for my $k (1 .. 10) {
        my $pid = fork // die "fork: $!";
        if (!$pid) {   # _exit: the test's object must not tidy up in a child
            eval {
                my $r = HTTP::Tiny->new(timeout => 60)->request('POST', $t->url . "$J?ops=invert",
                    { content => $body, headers => { 'Content-Type' => 'image/jpeg' } });
                my $j = eval { JSON::PP::decode_json($r->{content}) } // {};
                TilerTest::spew("$dir/par.$k", join(' ', $r->{status}, $j->{error} // '-', $j->{id} // '-',
                                                     $r->{headers}{'retry-after'} // '-'));
            };
            POSIX::_exit(0);
        }
        push @kids, $pid;
    }
    waitpid($_, 0) for @kids;
    my @got = map { [split / /, -e "$dir/par.$_" ? TilerTest::slurp("$dir/par.$_") : '0 - - -'] } 1 .. 10;
    my @ok = grep { $_->[0] == 202 } @got;
    my @busy = grep { $_->[0] == 503 && $_->[1] eq 'too_many_jobs' && $_->[3] eq '10' } @got;
    ok(@ok >= 1 && @ok <= 3, '10 uploads at once: ' . scalar(@ok) . ' accepted, at most TilerMaxJobs (3)');
    is(@ok + @busy, 10, 'the others: 503 too_many_jobs with Retry-After') or diag(join(', ', map { "@$_" } @got));
    $t->start_worker($_) for 1, 2;
    for my $g (@ok) {
        my ($s) = $t->wait_job($g->[2], 60);
        is($s->{state}, 'done', "accepted upload $g->[2] done");
    }
}

# finish() fails on a crashed child too (exit signal, AH00052, segfault).
$t->finish;
done_testing;
