# The API's answers to bad requests: the right 4xx status and a JSON body
# {"error": CODE, "message": TEXT} naming the problem, and a server that
# keeps answering afterwards.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(sleep);
use TilerTest;

my $t = TilerTest->new(name => 'api',
    directives => "TilerMaxUploadBytes 2000000\nTilerMaxPixels 4000000\nTilerMaxOps 4\n",
    # Provoked below: the store refuses to delete a refused upload's job.
    allow_log => [qr/AH30481: job [0-9a-f]{32} cannot be deleted \(.*deletes refused by the test.*\); marking it failed instead/]);
$t->start_all(workers => 0, monitor => 0);

my $png = $t->make_image('small.png', 64, 48, 'png', 0, 3);
my $body = TilerTest::slurp($png);

sub expect {
    my ($name, $method, $path, $status, $code, %o) = @_;
    my $like = delete $o{like};
    my ($r, $j) = $t->request($method, $path, %o);
    is($r->{status}, $status, "$name: $status");
    like($r->{headers}{'content-type'} // '', qr{^application/json}, "$name: JSON body");
    is($j->{error}, $code, "$name: error code $code");
    ok(length($j->{message} // ''), "$name: has a message");
    like($j->{message} // '', $like, "$name: message names the problem") if $like;
    my ($alive) = $t->request('GET', '/tiler/api/jobs');
    is($alive->{status}, 200, "$name: server still answers");
    return ($r, $j);
}

my %png = (content => $body, headers => { 'Content-Type' => 'image/png' });

# A JPEG result's sides stop at libjpeg's 65,500: asked for one, a wider
# image is refused before its job starts, in local mode too; as PNG it goes.
{
    my $wide = $t->make_image('wide.png', 65501, 2, 'png', 0, 4);
    my %wide = (content => TilerTest::slurp($wide), headers => { 'Content-Type' => 'image/png' });
    expect('65501 wide, JPEG result', 'POST', '/tiler/api/jobs?ops=invert&format=jpeg', 413, 'too_many_pixels',
           %wide, like => qr/JPEG cannot be 65501x2: its sides stop at 65500 pixels; ask for a PNG result/);
    my ($r, $j) = $t->request('POST', '/tiler/api/jobs?ops=invert&format=png', %wide);
    is($r->{status}, 202, '65501 wide, PNG result: accepted');
    ($r) = $t->request('DELETE', "/tiler/api/jobs/$j->{id}");   # no worker runs here
    is($r->{status}, 200, 'and deleted, with its files');
    my $worker = $t->bin('tiler-worker/tiler-worker');
    my $out = `$worker --local $wide $wide.jpg --ops invert --format jpeg 2>&1`;
    isnt($?, 0, 'local mode: a 65501-wide JPEG result is refused');
    like($out, qr/\Atiler-worker: \S+wide\.png: a JPEG cannot be 65501x2: [^\n]*\n\z/, 'local mode: in one line');
}

expect('text Content-Type', 'POST', '/tiler/api/jobs?ops=invert', 415, 'unsupported_media_type',
       content => $body, headers => { 'Content-Type' => 'text/plain' });
expect('no Content-Type', 'POST', '/tiler/api/jobs?ops=invert', 415, 'unsupported_media_type', content => $body);
expect('ops missing', 'POST', '/tiler/api/jobs', 400, 'bad_ops', %png);
expect('unknown op', 'POST', '/tiler/api/jobs?ops=grayscale,emboss', 400, 'bad_ops', %png, like => qr/emboss/);
expect('sigma zero', 'POST', '/tiler/api/jobs?ops=blur:0', 400, 'bad_ops', %png, like => qr/SIGMA.*outside/);
expect('sigma too big', 'POST', '/tiler/api/jobs?ops=blur:64.1', 400, 'bad_ops', %png, like => qr/64\.1/);
expect('sigma not a number', 'POST', '/tiler/api/jobs?ops=blur:abc', 400, 'bad_ops', %png, like => qr/abc/);
expect('sigma nan', 'POST', '/tiler/api/jobs?ops=blur:nan', 400, 'bad_ops', %png);
expect('empty op item', 'POST', '/tiler/api/jobs?ops=grayscale,,invert', 400, 'bad_ops', %png, like => qr/empty/);
expect('too many ops', 'POST', '/tiler/api/jobs?ops=invert,invert,invert,invert,invert', 400, 'bad_ops', %png,
       like => qr/more than 4/);
expect('encoded NUL in ops', 'POST', '/tiler/api/jobs?ops=invert%00', 400, 'bad_query', %png);
expect('encoded newline in ops', 'POST', '/tiler/api/jobs?ops=invert%0Agrayscale', 400, 'bad_query', %png);
expect('bad format', 'POST', '/tiler/api/jobs?ops=invert&format=webp', 400, 'bad_format', %png, like => qr/png, jpeg or tiff/);
expect('unknown parameter', 'POST', '/tiler/api/jobs?ops=invert&colour=red', 400, 'bad_query', %png,
       like => qr/colour.*known: ops, format, compression/);
expect('compression without format=tiff', 'POST', '/tiler/api/jobs?ops=invert&format=png&compression=jpeg', 400,
       'bad_format', %png, like => qr/compression is only for format=tiff/);
expect('unknown compression', 'POST', '/tiler/api/jobs?ops=invert&format=tiff&compression=lzw', 400, 'bad_format', %png,
       like => qr/deflate or jpeg/);
expect('compression twice', 'POST', '/tiler/api/jobs?ops=invert&format=tiff&compression=jpeg&compression=jpeg', 400,
       'bad_query', %png, like => qr/twice/);
{
    # A form's compression field is checked as the query's, after the body.
    my $b = 'tilerApiFormBoundary4';
    my $form = sub {
        my (@fields) = @_;
        return join('', map { "--$b\r\nContent-Disposition: form-data; name=\"$_->[0]\"\r\n\r\n$_->[1]\r\n" } @fields)
             . "--$b\r\nContent-Disposition: form-data; name=\"image\"; filename=\"small.png\"\r\n"
             . "Content-Type: image/png\r\n\r\n$body\r\n--$b--\r\n";
    };
    my %mp = (headers => { 'Content-Type' => "multipart/form-data; boundary=$b" });
    expect('form: compression with a PNG result', 'POST', '/tiler/api/jobs', 400, 'bad_format', %mp,
           content => $form->(['ops', 'invert'], ['compression', 'jpeg']), like => qr/only for format=tiff.*png result/);
    expect('form: unknown compression', 'POST', '/tiler/api/jobs', 400, 'bad_format', %mp,
           content => $form->(['ops', 'invert'], ['format', 'tiff'], ['compression', 'webp']), like => qr/deflate or jpeg/);
    expect('form: compression twice', 'POST', '/tiler/api/jobs', 400, 'bad_multipart', %mp,
           content => $form->(['ops', 'invert'], ['format', 'tiff'], ['compression', 'jpeg'], ['compression', 'jpeg']),
           like => qr/'compression' is given twice/);
}
expect('ops twice', 'POST', '/tiler/api/jobs?ops=invert&ops=grayscale', 400, 'bad_query', %png, like => qr/twice/);
expect('empty body', 'POST', '/tiler/api/jobs?ops=invert', 400, 'empty_body', headers => { 'Content-Type' => 'image/png' });
expect('not an image', 'POST', '/tiler/api/jobs?ops=invert', 415, 'unsupported_format',
       content => "hello, this is text", headers => { 'Content-Type' => 'image/png' });
expect('truncated PNG', 'POST', '/tiler/api/jobs?ops=invert', 422, 'corrupt_image',
       content => substr($body, 0, 100), headers => { 'Content-Type' => 'image/png' });
{
    # A PNG header that claims 3000x3000: refused before any decoding.
    my $bomb = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR" . pack('NN', 3000, 3000) . "\x08\x06\0\0\0" . ("\0" x 100);
    expect('too many pixels', 'POST', '/tiler/api/jobs?ops=invert', 413, 'too_many_pixels',
           content => $bomb, headers => { 'Content-Type' => 'image/png' }, like => qr/TilerMaxPixels/);
}
expect('upload too large', 'POST', '/tiler/api/jobs?ops=invert', 413, 'too_large',
       content => $body . ("\0" x 2_100_000), headers => { 'Content-Type' => 'image/png' }, like => qr/TilerMaxUploadBytes/);

# A job recorded at its first rows, then refused: the module logs how many
# tiles had gone out (AH30480), and the job is gone. The tiles out, or undef
# when no job was recorded.
sub log_size { -s $t->dir . '/logs/error.log' // 0 }
sub refused_job {
    my ($name, $log_from) = @_;
    my $log = substr(TilerTest::slurp($t->dir . '/logs/error.log'), $log_from);
    my ($id, $out) = $log =~ /AH30480: job ([0-9a-f]{32}) refused after (\d+) tiles went out/;
    return undef unless $id;
    my ($g) = $t->request('GET', "/tiler/api/jobs/$id");
    is($g->{status}, 404, "$name: the job it began is deleted");
    return $out;
}

# A truncated or corrupt JPEG: libjpeg would fill what is missing with grey
# and only warn. Refused like a truncated PNG, also when the cut comes after
# the first tiles went out (900x1200 at 512-pixel tiles: the first row of
# tiles is complete at 70 % of the file); the job it began is forgotten.
{
    my $jpeg = TilerTest::slurp($t->make_image('tall.jpg', 900, 1200, 'jpeg', 0, 5));
    my %jpg = (headers => { 'Content-Type' => 'image/jpeg' });
    for my $cut (0.05, 0.3, 0.7, 0.97) {
        my $from = log_size();
        expect("JPEG truncated at $cut", 'POST', '/tiler/api/jobs?ops=invert', 422, 'corrupt_image', %jpg,
               content => substr($jpeg, 0, int(length($jpeg) * $cut)), like => qr/jpeg/i);
        next if $cut < 0.7;
        my $out = refused_job("JPEG truncated at $cut", $from);
        ok(($out // 0) >= 1, "JPEG truncated at $cut: refused after its first tiles went out (" . ($out // 'no job') . ')');
    }
    expect('JPEG without its end marker', 'POST', '/tiler/api/jobs?ops=invert', 422, 'corrupt_image', %jpg,
           content => substr($jpeg, 0, length($jpeg) - 2));
    # A restart marker two thirds into the data (the file has none):
    # "Corrupt JPEG data: premature end of data segment".
    my $at = int(length($jpeg) * 2 / 3);
    expect('JPEG with a marker inside its data', 'POST', '/tiler/api/jobs?ops=invert', 422, 'corrupt_image', %jpg,
           content => substr($jpeg, 0, $at) . "\xFF\xD3" . substr($jpeg, $at + 2), like => qr/corrupt/i);
    my $b = 'tilerApiFormBoundary3';
    my $from = log_size();
    expect('JPEG truncated at 0.7, in a form', 'POST', '/tiler/api/jobs', 422, 'corrupt_image',
           headers => { 'Content-Type' => "multipart/form-data; boundary=$b" },
           content => "--$b\r\nContent-Disposition: form-data; name=\"ops\"\r\n\r\ninvert\r\n"
                    . "--$b\r\nContent-Disposition: form-data; name=\"image\"; filename=\"tall.jpg\"\r\n"
                    . "Content-Type: image/jpeg\r\n\r\n" . substr($jpeg, 0, int(length($jpeg) * 0.7)) . "\r\n--$b--\r\n");
    my $tiles_out = refused_job('JPEG truncated at 0.7, in a form', $from);
    ok(($tiles_out // 0) >= 1, 'JPEG truncated at 0.7, in a form: refused after its first tiles went out (' . ($tiles_out // 'no job') . ')');
    my (undef, $list) = $t->request('GET', '/tiler/api/jobs');
    is(scalar @{ $list->{jobs} // [] }, 0, 'no job left behind by the refused JPEGs');
    # Local mode decodes the same way: one line, and a failure exit.
    my $cut = $t->dir . '/cut.jpg';
    TilerTest::spew($cut, substr($jpeg, 0, int(length($jpeg) * 0.7)));
    my $worker = $t->bin('tiler-worker/tiler-worker');
    my $out = `$worker --local $cut $cut.png --ops invert 2>&1`;
    isnt($?, 0, 'local mode: a truncated JPEG fails');
    like($out, qr/\Atiler-worker: \S+cut\.jpg: jpeg image is truncated or corrupt: [^\n]*\n\z/, 'local mode: with one line naming the problem');
    ok(!-e "$cut.png", 'local mode: and writes no result');

    # Bytes between the last scan and the end marker, which cameras and
    # phones write ("N extraneous bytes before marker 0xd9"): the pixels are
    # whole, the file is taken, in local mode too.
    my $junk = $t->dir . '/junk.jpg';
    TilerTest::spew($junk, substr($jpeg, 0, -2) . ("\x55" x 700) . "\xFF\xD9");
    my ($r, $j) = $t->request('POST', '/tiler/api/jobs?ops=invert', %jpg, content => TilerTest::slurp($junk));
    is($r->{status}, 202, 'JPEG with bytes before its end marker: accepted') or diag($r->{content});
    $t->request('DELETE', "/tiler/api/jobs/$j->{id}") if $j->{id};
    $out = `$worker --local $junk $junk.png --ops invert 2>&1`;
    is($?, 0, "local mode takes it too ($out)");
    ok(-s "$junk.png", 'and writes the result');

    # The store refuses to delete the job of a refused upload (a trigger
    # here): it is marked failed instead, never left queued with no input.
    SKIP: {
        my $db = $t->dir . '/spool/tiler.db';
        my @sqlite = ($> == 0 ? ('runuser', '-u', 'www-data', '--') : (), 'sqlite3', $db);
        TilerTest::missing('the sqlite3 command') unless system('sqlite3 -version >/dev/null 2>&1') == 0;
        skip 'no sqlite3 command', 9 unless system('sqlite3 -version >/dev/null 2>&1') == 0;
        system(@sqlite, "CREATE TRIGGER test_no_delete BEFORE DELETE ON jobs BEGIN SELECT RAISE(ABORT, 'deletes refused by the test'); END;") == 0
            or die 'cannot create the trigger';
        expect('JPEG truncated at 0.7, the store refusing deletes', 'POST', '/tiler/api/jobs?ops=invert', 422, 'corrupt_image', %jpg,
               content => substr($jpeg, 0, int(length($jpeg) * 0.7)));
        my (undef, $list) = $t->request('GET', '/tiler/api/jobs');
        my @left = grep { $_->{width} == 900 && $_->{height} == 1200 } @{ $list->{jobs} // [] };
        is(scalar @left, 1, 'its job stays in the store');
        is($left[0]{state} // 'gone', 'failed', 'marked failed instead of left queued with no input');
        my $id = $left[0]{id};
        system(@sqlite, 'DROP TRIGGER test_no_delete;') == 0 or die 'cannot drop the trigger';
        $t->request('DELETE', "/tiler/api/jobs/$id") if $id;
        my ($g) = $t->request('GET', '/tiler/api/jobs/' . ($id // 'none'));
        is($g->{status}, 404, 'and deleted once the store allows it');
    }
}

for my $id ('xyz', 'g' x 32, 'a' x 31, 'a' x 33, 'A' x 32, '0123456789abcdef0123456789abcdeF') {
    expect("id '$id'", 'GET', "/tiler/api/jobs/$id", 404, 'not_found');
}
expect('unknown id', 'GET', '/tiler/api/jobs/' . ('ab' x 16), 404, 'not_found');
expect('result of unknown id', 'GET', '/tiler/api/jobs/' . ('cd' x 16) . '/result', 404, 'not_found');
expect('unknown endpoint', 'GET', '/tiler/api/nothing', 404, 'not_found');
expect('unknown job sub-resource', 'GET', '/tiler/api/jobs/' . ('ab' x 16) . '/pixels', 404, 'not_found');
{
    my ($r) = expect('DELETE on the job list', 'DELETE', '/tiler/api/jobs', 405, 'method_not_allowed');
    is($r->{headers}{allow}, 'GET, HEAD, POST', 'Allow header lists the methods');
    ($r) = expect('PUT on a job', 'PUT', '/tiler/api/jobs/' . ('ab' x 16), 405, 'method_not_allowed');
    is($r->{headers}{allow}, 'GET, HEAD, DELETE', 'Allow header for a job');
}
expect('workers without a monitor', 'GET', '/tiler/api/workers', 503, 'monitor_unavailable');

# A job accepted with no worker running stays queued; its result is a 409.
{
    my ($r, $j) = $t->request('POST', '/tiler/api/jobs?ops=invert', %png);
    is($r->{status}, 202, 'valid job accepted');
    expect('result not ready', 'GET', "/tiler/api/jobs/$j->{id}/result", 409, 'not_done', like => qr/queued/);
    my (undef, $s) = $t->request('GET', "/tiler/api/jobs/$j->{id}");
    is($s->{state}, 'queued', 'still queued');
    is_deeply([@$s{qw(width height tiles_total tiles_done)}], [64, 48, 1, 0], 'size and tile counts');
}

# Nothing refused left anything behind in the spool: only the accepted job.
{
    opendir my $dh, $t->dir . '/spool/jobs' or die $!;
    my @left = grep { !/^\./ } readdir $dh;
    is(scalar @left, 1, 'refused uploads left no files in the spool');
}

$t->finish;
done_testing;
