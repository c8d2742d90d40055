# Downloading results as httpd serves a static file: ETag, Last-Modified,
# conditional requests, Range and If-Range (so that a multi-gigabyte result
# can be resumed with `curl -C -`), HEAD; thumbnails the same way; and the
# job page's choice between the result and a preview (TilerPreviewAbovePixels).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use TilerTest;

TilerTest::need(-x '/usr/bin/curl', 'curl');
my $t = TilerTest->new(name => 'download', directives => "TilerPreviewAbovePixels 200000\n");
$t->start_all(workers => 1);

my $big = $t->make_image('big.png', 900, 600, 'png', 0, 37);     # 540,000 pixels: over the threshold
my $small = $t->make_image('small.png', 400, 300, 'png', 0, 38); # 120,000: under it
my (undef, $sub) = $t->submit($big, 'grayscale');
my $id = $sub->{id};
my ($j) = $t->wait_job($id, 60);
is($j->{state}, 'done', 'job done');
my $url = "/tiler/api/jobs/$id/result";

my ($full) = $t->request('GET', $url);
is($full->{status}, 200, 'full download');
my $body = $full->{content};
my $len = length $body;
ok($len > 1000, "a result of $len bytes");
my $etag = $full->{headers}{etag} // '';
like($etag, qr/^"[0-9a-f]+-[0-9a-f]+-[0-9a-f]+"$/, "a strong ETag ($etag)");
ok($full->{headers}{'last-modified'}, 'Last-Modified');
is($full->{headers}{'accept-ranges'}, 'bytes', 'Accept-Ranges: bytes');

# ---- HEAD ----
{
    my ($r) = $t->request('HEAD', $url);
    is($r->{status}, 200, 'HEAD');
    is($r->{headers}{'content-length'}, $len, 'HEAD gives the Content-Length');
    is($r->{headers}{etag}, $etag, 'and the same ETag');
}

# ---- ranges ----
{
    my ($r) = $t->request('GET', $url, headers => { Range => 'bytes=100-199' });
    is($r->{status}, 206, 'Range: 206');
    is($r->{headers}{'content-range'}, "bytes 100-199/$len", 'Content-Range');
    ok($r->{content} eq substr($body, 100, 100), 'exactly bytes 100..199');

    ($r) = $t->request('GET', $url, headers => { Range => 'bytes=-500' });
    is($r->{status}, 206, 'suffix range: 206');
    is($r->{headers}{'content-range'}, sprintf('bytes %d-%d/%d', $len - 500, $len - 1, $len), 'its Content-Range');
    ok($r->{content} eq substr($body, -500), 'the last 500 bytes');

    ($r) = $t->request('GET', $url, headers => { Range => 'bytes=0-9,20-29' });
    is($r->{status}, 206, 'two ranges: 206');
    like($r->{headers}{'content-type'}, qr{^multipart/byteranges; boundary=}, 'as multipart/byteranges');
    ok(index($r->{content}, substr($body, 20, 10)) >= 0, 'holding the second range');

    ($r) = $t->request('GET', $url, headers => { Range => "bytes=$len-" });
    is($r->{status}, 416, 'a range past the end: 416');

    ($r) = $t->request('GET', $url, headers => { Range => 'bytes=100-199', 'If-Range' => $etag });
    is($r->{status}, 206, 'If-Range with the current ETag: 206');
    ok($r->{content} eq substr($body, 100, 100), 'with the range');
    ($r) = $t->request('GET', $url, headers => { Range => 'bytes=100-199', 'If-Range' => '"not-this-one"' });
    is($r->{status}, 200, 'If-Range with another ETag: 200');
    ok($r->{content} eq $body, 'with the whole file');
}

# ---- conditional requests ----
{
    my ($r) = $t->request('GET', $url, headers => { 'If-None-Match' => $etag });
    is($r->{status}, 304, 'If-None-Match with the ETag: 304');
    is($r->{content} // '', '', 'no body');
    ($r) = $t->request('GET', $url, headers => { 'If-Modified-Since' => $full->{headers}{'last-modified'} });
    is($r->{status}, 304, 'If-Modified-Since Last-Modified: 304');
    my $d;
    ($r, $d) = $t->request('GET', $url, headers => { 'If-Match' => '"not-this-one"' });
    is($r->{status}, 412, 'If-Match with another ETag: 412');
    is($d && $d->{error}, 'precondition_failed', 'with a JSON error');
}

# ---- an interrupted download, resumed by curl ----
{
    my $part = $t->dir . '/resumed.png';
    TilerTest::spew($part, substr($body, 0, int($len / 3)));   # what a cut connection leaves
    my $rc = system('curl', '-s', '-f', '-C', '-', '-o', $part, $t->url . $url);
    is($rc, 0, 'curl -C - resumes');
    my $whole = $t->dir . '/whole.png';
    TilerTest::spew($whole, $body);
    is(system('cmp', '-s', $part, $whole), 0, 'the resumed file is the full download, byte for byte');
}

# Width and height from a PNG's IHDR (bytes 16..23), or () when not a PNG.
sub png_size {
    my ($body) = @_;
    return () unless length($body // '') >= 24 && substr($body, 0, 8) eq "\x89PNG\r\n\x1a\n";
    return unpack('NN', substr($body, 16, 8));
}

# ---- thumbnails are served the same way ----
{
    my ($r) = $t->request('GET', "$url?thumb=64");
    is($r->{status}, 200, 'thumbnail');
    is($r->{headers}{'content-type'}, 'image/png', 'a PNG');
    is(join(' x ', png_size($r->{content})), '64 x 43', 'of the 900 x 600 result scaled to 64 pixels on its long side');
    ok($r->{headers}{etag}, 'with an ETag');
    my ($again) = $t->request('GET', "$url?thumb=64", headers => { 'If-None-Match' => $r->{headers}{etag} });
    is($again->{status}, 304, 'revalidated: 304');
}

# ---- the job page: the result itself, or above TilerPreviewAbovePixels a preview ----
{
    my (undef, $s2) = $t->submit($small, 'grayscale', format => 'jpeg');
    my ($j2) = $t->wait_job($s2->{id}, 60);
    is($j2->{state}, 'done', 'small job done');
    my ($page) = $t->request('GET', "/tiler/jobs/$id");
    like($page->{content}, qr{<img id="result" src="/tiler/api/jobs/$id/result\?thumb=2048"},
         '900 x 600 over a 200,000-pixel threshold: the page shows the preview');
    unlike($page->{content}, qr{<img[^>]*src="/tiler/api/jobs/$id/result"}, 'and never the result itself');
    like($page->{content}, qr{id="preview-note"}, 'saying it is a preview');
    like($page->{content}, qr{id="download" href="/tiler/api/jobs/$id/result"}, 'with the download link');
    ($page) = $t->request('GET', "/tiler/jobs/$s2->{id}");
    like($page->{content}, qr{<img id="result" src="/tiler/api/jobs/$s2->{id}/result"}, '400 x 300 under it: the result itself');
    unlike($page->{content}, qr{preview-note}, 'and no preview note');

    # ?preview, which the upload page uses: the same choice, made by the server
    my ($r) = $t->request('GET', "$url?preview");
    is($r->{status}, 200, '?preview of the large result');
    is($r->{headers}{'content-type'}, 'image/png', 'is a PNG');
    ok(-f $t->dir . "/spool/jobs/$id/thumb-2048.png", 'the cached 2048 thumbnail');
    ok($r->{content} eq TilerTest::slurp($t->dir . "/spool/jobs/$id/thumb-2048.png"), 'is what it sends');
    ($r) = $t->request('GET', "/tiler/api/jobs/$s2->{id}/result?preview");
    is($r->{headers}{'content-type'}, 'image/jpeg', '?preview of the small result: the JPEG result itself');
    my ($res) = $t->request('GET', "/tiler/api/jobs/$s2->{id}/result");
    ok($r->{content} eq $res->{content}, 'byte for byte');
    # A result larger than the preview: ?preview is scaled down over HTTP.
    my (undef, $s3) = $t->submit($t->make_image('wide.png', 2100, 700, 'png', 0, 39), 'invert');
    my ($j3) = $t->wait_job($s3->{id}, 60);
    is($j3->{state}, 'done', 'a 2100 x 700 job done');
    ($r) = $t->request('GET', "/tiler/api/jobs/$s3->{id}/result?preview");
    is($r->{status}, 200, '?preview of it');
    is($r->{headers}{'content-type'}, 'image/png', 'is a PNG');
    is(join(' x ', png_size($r->{content})), '2048 x 683', 'scaled to 2048 pixels on its long side');
    ($r) = $t->request('GET', "$url?thumb=2049");
    is($r->{status}, 400, 'thumb=2049: 400');
}

$t->finish;
done_testing;
