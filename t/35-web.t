# The web side over plain HTTP: pages, the form flow without JavaScript
# (multipart POST, 303, job page), malformed forms, the event stream, and
# thumbnails.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(sleep time);
use TilerTest;

my $t = TilerTest->new(name => 'web', directives => "TilerEventStreamSeconds 6\n");
$t->start_all(workers => 2);
my $png = $t->make_image('photo.png', 900, 600, 'png', 1, 21);

sub form_body {
    my (%o) = @_;
    my $b = $o{boundary} // 'tilerTestBoundary42';
    my $body = '';
    for my $f (@{ $o{fields} || [] }) {
        $body .= "--$b\r\nContent-Disposition: form-data; name=\"$f->[0]\"\r\n\r\n$f->[1]\r\n";
    }
    for my $img (@{ $o{images} || [] }) {
        $body .= "--$b\r\nContent-Disposition: form-data; name=\"image\"; filename=\"photo.png\"\r\n"
               . "Content-Type: image/png\r\n\r\n" . TilerTest::slurp($img) . "\r\n";
    }
    $body .= "--$b--\r\n" unless $o{unterminated};
    return ($body, "multipart/form-data; boundary=" . ($o{header_boundary} // $b));
}

# ---- pages ----
{
    my ($r) = $t->request('GET', '/tiler/');
    is($r->{status}, 200, 'upload page');
    like($r->{headers}{'content-type'}, qr{^text/html}, 'is HTML');
    like($r->{content}, qr{<form id="upload" method="post" action="api/jobs" enctype="multipart/form-data">}, 'a real multipart form');
    like($r->{content}, qr{<input type="file" id="image" name="image"}, 'file field image');
    like($r->{content}, qr{name="ops"}, 'ops field');
    like($r->{content}, qr{name="format" value="jpeg"}, 'format choice');
    unlike($r->{content}, qr{https?://}, 'no external resources');
    my $get = HTTP::Tiny->new(max_redirect => 0);
    my $bare = $get->get($t->url . '/tiler');
    is($bare->{status}, 301, 'bare Location redirects');
    is($bare->{headers}{location}, '/tiler/', '...to the slash');
    # A control character in the path (schemathesis sent one) stays escaped
    # in the Location: httpd refuses a raw one with an error of its own.
    my $odd = $get->get($t->url . '/tiler/probe%1B%01');
    is($odd->{status}, 301, 'a path with control characters: redirected');
    is($odd->{headers}{location}, '/tiler/probe%1b%01/', '...with them escaped');
    ($r) = $t->request('GET', '/tiler/dashboard.html');
    is($r->{status}, 200, 'dashboard page');
    like($r->{content}, qr{<table id="workers">}, 'workers table');
    for (['style.css', qr{^text/css}], ['app.js', qr{^text/javascript}], ['dashboard.js', qr{^text/javascript}],
         ['job.js', qr{^text/javascript}]) {
        ($r) = $t->request('GET', "/tiler/static/$_->[0]");
        is($r->{status}, 200, "static $_->[0]");
        like($r->{headers}{'content-type'}, $_->[1], "$_->[0] type");
    }
    ($r) = $t->request('GET', '/tiler/static/secret.conf');
    is($r->{status}, 404, 'a name not on the list: 404');
    ($r) = $t->request('GET', '/tiler/static/%2e%2e%2fhttpd.conf');
    isnt($r->{status}, 200, 'encoded traversal is not served');
}

# ---- the form without JavaScript: 303 to the job page ----
my $job_id;
{
    my ($body, $ct) = form_body(fields => [['ops', 'grayscale,blur:2'], ['format', 'png']], images => [$png]);
    my $nav = HTTP::Tiny->new(max_redirect => 0);
    my $r = $nav->request('POST', $t->url . '/tiler/api/jobs',
        { content => $body, headers => { 'Content-Type' => $ct, Accept => 'text/html,application/xhtml+xml,*/*;q=0.8' } });
    is($r->{status}, 303, 'browser form post: 303 See Other');
    like($r->{headers}{location}, qr{^/tiler/jobs/([0-9a-f]{32})$}, 'to the job page');
    ($job_id) = $r->{headers}{location} =~ m{/jobs/([0-9a-f]{32})$};
    my ($page) = $t->request('GET', "/tiler/jobs/$job_id");
    is($page->{status}, 200, 'job page');
    like($page->{content}, qr{<code>grayscale,blur:2</code>}, 'shows the ops');
    like($page->{content}, qr{900 × 600 pixels}, 'shows the size');
    like($page->{content}, qr{of \d+</span>}, 'shows tiles done of total');
    my ($j) = $t->wait_job($job_id, 60);
    is($j->{state}, 'done', 'form job done');
    ($page) = $t->request('GET', "/tiler/jobs/$job_id");
    like($page->{content}, qr{id="state" class="state-done">Done<}, 'job page says done');
    like($page->{content}, qr{<a class="button" id="download" href="/tiler/api/jobs/$job_id/result"}, 'download link');
    like($page->{content}, qr{<img id="result" src="/tiler/api/jobs/$job_id/result"}, 'shows the result');
    unlike($page->{content}, qr{http-equiv="refresh"}, 'no refresh once done');
    my ($res) = $t->request('GET', "/tiler/api/jobs/$job_id/result");
    my $out = $t->dir . '/form.png';
    TilerTest::spew($out, $res->{content});
    my ($msg, $same) = $t->imgcmp($out, $t->local_result($png, 'grayscale,blur:2'));
    ok($same, "form upload result identical to local mode ($msg)");
}
{
    # A running job's page refreshes itself (no JavaScript needed).
    $t->stop_process("worker$_") for 1, 2;
    my ($body, $ct) = form_body(fields => [['ops', 'invert']], images => [$png]);
    my ($r, $j) = $t->request('POST', '/tiler/api/jobs', content => $body, headers => { 'Content-Type' => $ct });
    is($r->{status}, 202, 'form post from a script (JSON accepted): 202');
    my ($page) = $t->request('GET', "/tiler/jobs/$j->{id}");
    like($page->{content}, qr{<noscript><meta http-equiv="refresh" content="2"></noscript>}, 'queued job page refreshes without JavaScript');
    like($page->{content}, qr{Queued}, 'and says queued');
    $t->start_worker($_) for 1, 2;
    $t->wait_job($j->{id}, 60);
}

# ---- malformed forms: 400 with JSON ----
sub bad_form {
    my ($name, $code, %o) = @_;
    my ($body, $ct) = form_body(%o);
    $body = $o{raw} if defined $o{raw};
    $ct = $o{ct} if defined $o{ct};
    my ($r, $j) = $t->request('POST', '/tiler/api/jobs', content => $body, headers => { 'Content-Type' => $ct });
    is($r->{status}, 400, "$name: 400");
    is($j->{error}, $code, "$name: $code") or diag($r->{content});
    ok(length($j->{message} // ''), "$name: message '" . ($j->{message} // '') . "'");
}
bad_form('no boundary', 'bad_multipart', fields => [['ops', 'invert']], images => [$png], ct => 'multipart/form-data');
bad_form('wrong boundary', 'bad_multipart', fields => [['ops', 'invert']], images => [$png], header_boundary => 'notTheOne');
bad_form('unterminated', 'bad_multipart', fields => [['ops', 'invert']], images => [$png], unterminated => 1);
bad_form('missing image part', 'missing_image', fields => [['ops', 'invert']]);
bad_form('two images', 'bad_multipart', fields => [['ops', 'invert']], images => [$png, $png]);
bad_form('garbage body', 'bad_multipart', raw => "this is not a form at all", ct => 'multipart/form-data; boundary=x');
bad_form('bad ops in the form', 'bad_ops', fields => [['ops', 'emboss']], images => [$png]);
bad_form('field too large', 'bad_multipart', fields => [['ops', 'invert,' x 1000]], images => [$png]);

# ---- the event stream ----
{
    my $big = $t->make_image('big.png', 2400, 1600, 'png', 0, 22);
    my ($r, $j) = $t->submit($big, 'blur:3');
    is($r->{status}, 202, 'job for the event stream');
    my $raw = '';
    my $t0 = time;
    my $res = HTTP::Tiny->new(timeout => 30)->request('GET', $t->url . "/tiler/api/events?job=$j->{id}",
        { data_callback => sub { $raw .= $_[0] } });
    is($res->{status}, 200, 'event stream answers');
    like($res->{headers}{'content-type'}, qr{^text/event-stream}, 'as text/event-stream');
    ok(time - $t0 < 15, 'the stream ends by itself (TilerEventStreamSeconds)');
    my @events = map { JSON::PP::decode_json($_) } $raw =~ /^event: job\ndata: (.*)$/mg;
    ok(@events >= 2, scalar(@events) . ' job events');
    is($events[-1]{state}, 'done', 'the last event says done');
    is($events[-1]{tiles_done}, $events[-1]{tiles_total}, 'with every tile');
    my $mono = 1;
    $mono &&= $events[$_]{tiles_done} >= $events[$_ - 1]{tiles_done} for 1 .. $#events;
    ok($mono, 'progress never goes back');
    like($raw, qr/^retry: \d+$/m, 'tells the browser how soon to reconnect');

    my $all = '';
    HTTP::Tiny->new(timeout => 30)->request('GET', $t->url . '/tiler/api/events', { data_callback => sub { $all .= $_[0] } });
    like($all, qr/^event: workers\ndata: \{"workers":\[/m, 'the full stream carries worker snapshots');
    like($all, qr/^event: job\ndata: .*"id":"$j->{id}"/m, 'and jobs');
    my ($bad) = $t->request('GET', '/tiler/api/events?job=nope');
    is($bad->{status}, 400, 'bad job filter: 400');
    my ($none, $why) = $t->request('GET', '/tiler/api/events?job=' . ('0' x 32));
    is($none->{status}, 404, 'a stream for a job that does not exist: 404, not a silent stream');
    is($why->{error}, 'not_found', '...not_found');
}

# ---- thumbnails ----
{
    my ($r) = $t->request('GET', "/tiler/api/jobs/$job_id/result?thumb=64");
    is($r->{status}, 200, 'thumbnail');
    is($r->{headers}{'content-type'}, 'image/png', 'as PNG');
    my ($w, $h) = unpack('NN', substr($r->{content}, 16, 8));
    is_deeply([$w, $h], [64, 43], "at most 64 pixels on the long side ($w x $h)");
    ok(-f $t->dir . "/spool/jobs/$job_id/thumb-64.png", 'cached in the spool');
    my ($again) = $t->request('GET', "/tiler/api/jobs/$job_id/result?thumb=64");
    is($again->{content}, $r->{content}, 'served again from the cache');
    for my $q ('thumb=5', 'thumb=5000', 'thumb=abc', 'thumb=', 'size=64', 'thumb=64&x=1', 'thumb=+64', 'thumb=064',
               'thumb=%2064', 'thumb=64%00') {
        my ($b, $j) = $t->request('GET', "/tiler/api/jobs/$job_id/result?$q");
        is($b->{status}, 400, "?$q: 400");
    }
    for my $q ('thumb=64&preview', 'preview&thumb=64', 'preview=&thumb=64') {
        my ($both, $why) = $t->request('GET', "/tiler/api/jobs/$job_id/result?$q");
        is($both->{status}, 400, "?$q: thumb and preview together: 400");
        like($why->{message} // '', qr/not both/, '...saying so');
    }
    my ($pv) = $t->request('GET', "/tiler/api/jobs/$job_id/result?preview=");
    is($pv->{status}, 200, '?preview= (an empty value, as a form sends it) is ?preview');
}

$t->finish;
done_testing;
