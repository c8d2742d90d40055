# The first run, as a new user does it: a fresh clone of this checkout's
# committed HEAD in a directory nobody else may enter (like root's home, where
# httpd's children, www-data, cannot read it), then scripts/up on ports of its
# own, the upload page, the dashboard, one job through the form, the job page,
# and scripts/down, after which nothing it started may still run.
# Takes a few minutes: scripts/up builds the clone and starts its own broker.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Cwd qw(abs_path);
use Digest::MD5 qw(md5_hex);
use File::Basename qw(dirname);
use File::Path qw(remove_tree);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use Test::More;
use Time::HiRes qw(sleep time);
use TilerTest;

my $top = $TilerTest::TOP;
my $t = TilerTest->new(name => 'first-run');   # its directory and the image tools

sub listening { IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $_[0], Timeout => 2) ? 1 : 0 }

my $http_port = TilerTest::free_port(23000);
my $kafka_port = TilerTest::free_port(22600);
my $controller_port = TilerTest::free_port($kafka_port + 1);
my $mark = "first-run-$$-" . int(time * 1000);
# Only what a new user's shell would have: not scripts/check's run directory,
# broker port or build tree (and so in END too, where scripts/down may run).
delete @ENV{qw(TILER_RUN_DIR TILER_BUILD_DIR TILER_ASAN_PRELOAD TILER_TEST_DIR TILER_WORKERS)};
@ENV{qw(TILER_HTTP_PORT TILER_KAFKA_PORT TILER_KAFKA_CONTROLLER_PORT TILER_RUN_MARK)}
    = ($http_port, $kafka_port, $controller_port, $mark);

my $home = tempdir('first-run-XXXXXX', TMPDIR => 1, CLEANUP => 0);
chmod 0700, $home;
my $clone = "$home/mod_tiler";
chomp(my $head = `git -C $top rev-parse HEAD`);
is(system("git clone -q $top $clone && git -C $clone checkout -q --detach $head"), 0,
   "git clone of HEAD ($head) into $clone, under a mode 0700 directory");

my ($up_done, $down_done);
sub down {
    return if $down_done++;
    return system("cd $clone && scripts/down >$home/down.log 2>&1");
}
END { down() if $up_done && !$down_done }

my $t0 = time;
my $rc = system("cd $clone && timeout 1500 scripts/up >$home/up.out 2>$home/up.err");
$up_done = 1;
is($rc, 0, sprintf('scripts/up succeeds (%.0f s)', time - $t0))
    or diag("scripts/up: " . `tail -n 15 $home/up.err $home/up.out`);
my $out = -f "$home/up.out" ? TilerTest::slurp("$home/up.out") : '';
my $base = "http://127.0.0.1:$http_port/tiler";
my @urls = $out =~ m{^\s+\w+:\s+(http://\S+)}mg;
is_deeply([@urls[0, 1]], ["$base/", "$base/dashboard.html"], 'it prints the upload page and the dashboard first')
    or diag($out);
my ($run) = $out =~ /^\s+State:\s+(\S+)$/m;
ok($run, 'it says where its state is (a State: line)') or diag($out);
# As root, httpd's children (www-data) cannot enter the mode 0700 home: the
# run directory (httpd's config, logs, pages) must then be outside the clone,
# in /var/tmp/mod_tiler-<the first 12 hex digits of the clone path's MD5>.
if ($> == 0) {
    is($run, '/var/tmp/mod_tiler-' . substr(md5_hex(abs_path($clone)), 0, 12) . '/run',
       "run as root from a mode 0700 clone, the run directory is outside it, under /var/tmp/mod_tiler-*");
}

my $http = HTTP::Tiny->new(timeout => 30, max_redirect => 0, keep_alive => 0);
my $r = $http->get("$base/");
is($r->{status}, 200, "GET $base/: the upload page") or diag($r->{content});
like($r->{content}, qr{<form[^>]+enctype="multipart/form-data"}, 'with its form');
$r = $http->get("$base/dashboard.html");
is($r->{status}, 200, 'GET the dashboard') or diag($r->{content});
like($r->{headers}{'content-type'} // '', qr{^text/html}, 'as HTML');

# The monitor's snapshot, which httpd's children read, lists the workers.
my $alive = 0;
my $deadline = time + 30;
while (time < $deadline) {
    my $w = eval { decode_json($http->get("$base/api/workers")->{content}) } // {};
    $alive = grep { ($_->{state} // '') eq 'alive' } @{ $w->{workers} || [] };
    last if $alive >= 2;
    sleep 0.2;
}
is($alive, 2, "the dashboard's data: the monitor sees scripts/up's 2 workers alive");

# One job through the form, as a browser without JavaScript sends it.
my $img = $t->make_image('in.png', 700, 500, 'png', 0, 7);
my $ops = 'grayscale,blur:2';
my $boundary = 'first-run-' . int(rand(1e9));
my $body = join '', map { "--$boundary\r\n$_\r\n" }
    "Content-Disposition: form-data; name=\"image\"; filename=\"in.png\"\r\nContent-Type: image/png\r\n\r\n"
        . TilerTest::slurp($img),
    "Content-Disposition: form-data; name=\"ops\"\r\n\r\n$ops",
    "Content-Disposition: form-data; name=\"format\"\r\n\r\npng";
$body .= "--$boundary--\r\n";
$r = $http->post("$base/api/jobs", { content => $body, headers => {
    'Content-Type' => "multipart/form-data; boundary=$boundary", Accept => 'text/html' } });
is($r->{status}, 303, 'the form post answers 303') or diag($r->{content});
my $loc = $r->{headers}{location} // '';
my ($id) = $loc =~ m{/tiler/jobs/([0-9a-f]{32})$};
ok($id, "to the job page ($loc)");
$id //= 'none';

my $job = {};
$deadline = time + 120;
while (time < $deadline) {
    $r = $http->get("$base/api/jobs/$id");
    $job = eval { decode_json($r->{content}) } // {};
    last if ($job->{state} // '') =~ /^(done|failed)$/;
    sleep 0.2;
}
is($job->{state}, 'done', 'the job is done') or diag(explain($job));
$r = $http->get("$base/api/jobs/$id/result");
is($r->{status}, 200, 'its result downloads');
like($r->{content}, qr/^\x89PNG\r\n\x1a\n/, 'as a PNG');
TilerTest::spew($t->dir . '/result.png', $r->{content});
my ($msg, $same) = $t->imgcmp($t->dir . '/result.png', $t->local_result($img, $ops));
ok($same, "identical to local mode ($msg)");
$r = $http->get("http://127.0.0.1:$http_port$loc", { headers => { Accept => 'text/html' } });
is($r->{status}, 200, 'the job page answers 200');
like($r->{content}, qr/$id/, 'and names the job');

is(down(), 0, 'scripts/down succeeds') or diag(`tail -n 15 $home/down.log`);
my $left = `$top/scripts/leftovers --kill $mark`;
is($?, 0, 'nothing scripts/up started is still running') or diag($left);
ok(!listening($_), "nothing listens on port $_ any more") for $http_port, $kafka_port;

# The first run's httpd log is held to the same standard as every test's;
# without a State: line it cannot be found, which is a failure, not a skip.
if ($run) {
    local $t->{dir} = "$run/httpd";
    my @bad = $t->error_log_problems;
    ok(!@bad, "scripts/up's httpd error log has no unexpected lines");
    diag("unexpected: $_") for @bad;
}
else { fail("scripts/up's httpd error log: not found, scripts/up printed no State: line") }

if (Test::More->builder->is_passing && !$ENV{TILER_KEEP}) {
    # The run directory is outside the clone when httpd's children cannot read it.
    remove_tree(dirname($run)) if $run && $run =~ m{^/var/tmp/mod_tiler-[0-9a-f]+/run$};
    remove_tree($home, $t->dir);
}
else { diag("kept $home, " . $t->dir . ($run ? " and $run" : '')) }
done_testing;
