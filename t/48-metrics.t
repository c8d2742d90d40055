# Monitoring: GET /tiler/metrics read by Prometheus's own parser
# (prometheus_client, t/tools/prom-parse.py) with the values checked against
# the jobs this test ran, kept across `apache2 -k graceful` (the results
# consumer moves to a new child); and GET /tiler/api/health, 200 on a
# working server and 503 naming the failed check on one whose broker and
# spool room are missing.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Time::HiRes qw(time sleep);
use TilerTest;

my $venv = $ENV{TILER_PYVENV} // "$ENV{HOME}/.cache/mod_tiler/pyvenv";
TilerTest::need(-x "$venv/bin/python", "prometheus_client in $venv (scripts/lib.sh install_python_tools)");
my $promtool = ($ENV{TILER_PROMTOOL_DIR} // "$ENV{HOME}/.cache/mod_tiler/promtool") . '/usr/bin/promtool';
TilerTest::need(-x $promtool, "promtool (scripts/lib.sh install_promtool)");

my $t = TilerTest->new(name => 'metrics');
$t->start_all(workers => 1);

# Polls until $cond returns true (the results consumer notes itself every
# 5 s; the monitor writes its snapshot every second or so).
sub eventually {
    my ($cond, $timeout) = @_;
    my $deadline = time + ($timeout // 30);
    while (time < $deadline) { my $v = $cond->(); return $v if $v; sleep 0.2 }
    return;
}

sub scrape {
    my ($r) = $t->request('GET', '/tiler/metrics');
    is($r->{status}, 200, 'GET /metrics: 200');
    like($r->{headers}{'content-type'}, qr{^text/plain; version=0\.0\.4}, '...in the text format 0.0.4');
    my $file = $t->dir . '/metrics.txt';
    TilerTest::spew($file, $r->{content});
    my $lint = `"$promtool" check metrics < "$file" 2>&1`;
    is($?, 0, 'promtool check metrics: parsed, and nothing against the naming rules') or diag($lint);
    my $json = `"$venv/bin/python" "$FindBin::Bin/tools/prom-parse.py" < "$file" 2>&1`;
    is($?, 0, "prometheus_client's parser reads it (for the values)") or diag($json);
    my $samples = eval { decode_json($json) } || [];
    my %v;
    for my $s (@$samples) {
        my $labels = join ',', map { "$_=$s->{labels}{$_}" } sort keys %{ $s->{labels} };
        $v{ $s->{name} . ($labels ? "{$labels}" : '') } = $s->{value};
    }
    # Prometheus's naming rules: the prefix, and _total on every counter.
    my @bad = grep { $_->{name} !~ /^tiler_/ || ($_->{type} eq 'counter' && $_->{name} !~ /_total$/) } @$samples;
    ok(!@bad, 'every name has the tiler_ prefix, every counter ends in _total') or diag explain \@bad;
    like($r->{content}, qr/^# HELP tiler_jobs_created_total \S/m, 'families have their HELP');
    return \%v;
}

# ---- health on a working server ----
my $health = eventually(sub { my ($r, $j) = $t->request('GET', '/tiler/api/health'); $r->{status} == 200 && $j });
ok($health, 'GET /api/health: 200 once the results consumer has noted itself');
is($health->{status}, 'ok', '...status ok');
is_deeply([sort keys %{ $health->{checks} }], [qw(kafka results_consumer spool store)], '...with its four checks');
ok((!grep { !$health->{checks}{$_}{ok} } keys %{ $health->{checks} }), '...all passing');

# ---- jobs, then the counters ----
my (@jobs, $tiles, $bytes, $served);
for my $n (1 .. 3) {
    my $img = $t->make_image("m$n.png", 700 + 100 * $n, 500, 'png', 1, $n);
    my ($r, $j) = $t->submit($img, 'grayscale,blur:1');
    is($r->{status}, 202, "job $n accepted");
    push @jobs, $j;
    $tiles += $j->{tiles_total};
    $bytes += -s $img;
}
for my $j (@jobs) {
    my ($final) = $t->wait_job($j->{id});
    is($final->{state}, 'done', "job $j->{id} done");
    my ($r) = $t->request('GET', "/tiler/api/jobs/$j->{id}/result");
    is($r->{status}, 200, 'result downloaded');
    $served += length $r->{content};
}
my ($missing) = $t->request('GET', '/tiler/api/jobs/' . ('0' x 32) . '/result');
is($missing->{status}, 404, 'a 404 for a result serves nothing');

my $v = eventually(sub {
    my $m = scrape();
    # The monitor measures the tasks backlog every 2 s, apart from the
    # heartbeats: wait for a snapshot that has both.
    ($m->{'tiler_served_bytes_total'} // 0) >= $served && ($m->{'tiler_worker_state{state=alive,worker=worker1-metrics}'} // 0) == 1
        && (grep { /^tiler_tasks_backlog_messages\{/ } keys %$m) && $m;
});
ok($v, 'the metrics caught up with the jobs and the worker');
$v ||= {};
is($v->{tiler_jobs_created_total}, 3, 'jobs created: 3');
is($v->{tiler_jobs_done_total}, 3, 'jobs done: 3');
is($v->{tiler_jobs_failed_total}, 0, 'jobs failed: 0');
is($v->{'tiler_jobs{state=done}'}, 3, 'jobs by state: 3 done');
is($v->{'tiler_jobs{state=running}'}, 0, '...none running');
is($v->{tiler_tiles_produced_total}, $tiles, "tiles produced: $tiles");
is($v->{tiler_tiles_assembled_total}, $tiles, "tiles assembled: $tiles");
is($v->{tiler_tiles_resent_total}, 0, 'tiles resent: 0');
is($v->{tiler_tiles_dead_lettered_total}, 0, 'tiles dead-lettered: 0');
is($v->{tiler_upload_bytes_total}, $bytes, "bytes uploaded: $bytes");
is($v->{tiler_served_bytes_total}, $served, "bytes served: $served (the results downloaded)");
for my $h (qw(job_duration_seconds upload_first_tile_seconds decode_seconds encode_seconds)) {
    is($v->{"tiler_${h}_count"}, 3, "histogram $h: 3 observations");
    is($v->{"tiler_${h}_bucket{le=+Inf}"}, 3, "...all in +Inf");
    ok(defined $v->{"tiler_${h}_sum"} && $v->{"tiler_${h}_sum"} >= 0, "...and a sum");
}
ok($v->{tiler_job_duration_seconds_sum} >= $v->{tiler_decode_seconds_sum}, 'end to end takes at least the decode');
is($v->{tiler_monitor_up}, 1, 'the monitor snapshot is read');
{
    # docs/grafana-dashboard.json: valid JSON whose queries use only metrics
    # that exist (histograms by their _bucket series).
    my $dash = eval { decode_json(TilerTest::slurp("$FindBin::Bin/../docs/grafana-dashboard.json")) };
    ok($dash && @{ $dash->{panels} || [] }, 'the Grafana dashboard is JSON with panels');
    my %families = map { /^(tiler_\w+?)(?:\{|$)/ ? ($1 => 1) : () } keys %$v;
    my @used = map { $_->{expr} =~ /\b(tiler_\w+)/g } map { @{ $_->{targets} || [] } } @{ $dash->{panels} || [] };
    my @unknown = grep { !$families{$_} } @used;
    ok(@used >= 10 && !@unknown, scalar(@used) . ' metric names in its queries, all served') or diag "unknown: @unknown";
}
ok(defined $v->{'tiler_worker_tiles_done_total{worker=worker1-metrics}'}, 'per-worker tiles done');
ok(defined $v->{'tiler_worker_heartbeat_age_seconds{worker=worker1-metrics}'}, 'per-worker heartbeat age');
is(scalar(grep { /^tiler_tasks_backlog_messages\{partition=\d+\}$/ } keys %$v), 12, 'the tasks backlog of each of the 12 partitions');
ok(eventually(sub { (scrape()->{tiler_results_consumer_lag_messages} // -1) == 0 }),
   'the results consumer has read everything (lag 0 at a sweep)');
ok($v->{tiler_results_consumer_heartbeat_age_seconds} >= 0 && $v->{tiler_results_consumer_heartbeat_age_seconds} < 15,
   'its heartbeat is fresh');
is($v->{tiler_results_consumer_up}, 1, 'it is up');

# ---- across a graceful restart: the counters live in the store ----
my $before = $t->results_consumer_pid;
system('apache2', '-f', $t->dir . '/httpd.conf', '-k', 'graceful') == 0 or diag('graceful failed');
ok(eventually(sub { my $now = $t->results_consumer_pid; $now && $before && $now != $before }, 60),
   'the results consumer moved to a new child');
my $after = scrape();
is($after->{tiler_jobs_created_total}, 3, 'after graceful: jobs created still 3');
is($after->{tiler_tiles_assembled_total}, $tiles, 'after graceful: tiles assembled kept');
is($after->{tiler_served_bytes_total}, $served, 'after graceful: bytes served kept');
is($after->{tiler_job_duration_seconds_count}, 3, 'after graceful: the histogram kept');
# The new consumer has read nothing yet on its partitions: its lag is from
# the group's committed offsets, not from the start of the retained log.
ok(eventually(sub { my $m = scrape(); ($m->{tiler_results_consumer_heartbeat_age_seconds} // 99) < 5
                      && defined $m->{tiler_results_consumer_lag_messages} && $m->{tiler_results_consumer_lag_messages} == 0 }, 30),
   'after graceful: the moved consumer reports lag 0, not the retained results');

# Requests httpd refuses before it has a URI are logged too (the metrics'
# log hook sees them): a request line over LimitRequestLine, and a
# malformed one. The child must live on (the error log check below
# catches a crash).
{
    use IO::Socket::INET;
    for my $line ('GET /' . ('a' x 9000) . " HTTP/1.1\r\nHost: x\r\n\r\n", "BLAH\r\n\r\n") {
        my $sock = IO::Socket::INET->new(PeerAddr => $t->{http_host}, PeerPort => $t->{http_port}) or die $!;
        print $sock $line;
        my $answer = join '', <$sock>;
        like($answer, qr{^HTTP/1\.1 (414|400)}, 'a request refused before it has a URI: ' . substr($answer, 9, 3));
    }
    my ($still) = $t->request('GET', '/tiler/api/jobs');
    is($still->{status}, 200, 'the server answers on');
}
my ($del) = $t->request('DELETE', "/tiler/api/jobs/$jobs[0]{id}");
is($del->{status}, 200, 'a job deleted');
my $later = scrape();
is($later->{tiler_jobs_done_total}, 3, 'counters do not go down when jobs go');
is($later->{'tiler_jobs{state=done}'}, 2, 'the gauge does');

$t->finish;

# ---- health on a server that cannot take a job ----
# Its broker is a closed port, and TilerMaxUploadBytes (1 TiB) is more
# than the spool has free.
my $dead_port = TilerTest::free_port(23800);
my $d = TilerTest->new(name => 'unhealthy', brokers => "127.0.0.1:$dead_port",
                       # /metrics for the scraper only, as README shows.
                       directives => "TilerMaxUploadBytes 1099511627776\n"
                                   . "<LocationMatch \"/metrics\$\">\n    Require ip 192.0.2.7\n</LocationMatch>\n",
                       allow_log => [qr/AH30(?:201|301): kafka .*(?:Connection refused|brokers are down|Connect to)/,
                                     qr/AH30314: topics not ready yet/,
                                     # httpd's event MPM stopping while the
                                     # health request's connection lingers
                                     # (its own shutdown race, not ours).
                                     qr/AH03092: process_lingering_close: apr_pollset_add failure/,
                                     qr/AH01630: client denied by server configuration: .*\/htdocs\/tiler/]);
$d->start_httpd;
my ($r, $j) = $d->request('GET', '/tiler/api/health');
is($r->{status}, 503, 'unhealthy server: 503');
is($j->{error}, 'unhealthy', '...error unhealthy');
like($j->{message}, qr/^spool: the spool has \d+ bytes free, less than TilerMaxUploadBytes/, '...naming the first failed check');
ok($j->{checks}{store}{ok}, '...the store is fine');
ok(!$j->{checks}{spool}{ok}, '...the spool has no room');
ok(!$j->{checks}{kafka}{ok}, '...Kafka does not answer');
like($j->{checks}{kafka}{error}, qr/no Kafka broker answers/, '...saying so');
ok(!$j->{checks}{results_consumer}{ok}, '...and no results consumer has run');
for my $path ('/tiler/metrics', '/tiler/x/metrics', '/tiler/jobs/x/metrics') {
    my ($m) = $d->request('GET', $path);
    is($m->{status}, 403, "$path restricted to the scraper's address: 403 for anyone else");
}
my ($jobs) = $d->request('GET', '/tiler/api/jobs');
is($jobs->{status}, 200, '...while the rest of the Location answers');
$d->finish;
done_testing;
