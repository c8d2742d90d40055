# Directives: every bad value stops httpd at startup with a message that
# names the directive; and a job whose tiles Kafka never takes fails with
# the reason instead of hanging.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(sleep);
use TilerTest;

my $t = TilerTest->new(name => 'config');

my @bad = (
    ['TilerTileSize 8', qr/TilerTileSize: '8' is not a whole number in 16\.\.2048/],
    ['TilerTileSize 5000', qr/TilerTileSize/],
    ['TilerTileSize abc', qr/TilerTileSize: 'abc'/],
    ['TilerMaxPixels -1', qr/TilerMaxPixels/],
    ['TilerMaxPixels 68719476737', qr/TilerMaxPixels: '68719476737' is not a whole number in 1\.\.68719476736/],
    ['TilerMaxWholeDecodePixels 0', qr/TilerMaxWholeDecodePixels/],
    ['TilerMaxUploadBytes 10MB', qr/TilerMaxUploadBytes/],
    ['TilerMaxOps 99', qr/TilerMaxOps/],
    ['TilerProduceTimeout 5', qr/TilerProduceTimeout/],
    ['TilerTasksTopic bad/name', qr/TilerTasksTopic: 'bad\/name' is not a valid Kafka name/],
    ['TilerResultsGroup "a b"', qr/TilerResultsGroup/],
    ['TilerWorkerGroup "a;b"', qr/TilerWorkerGroup/],
    ['TilerResendSeconds -1', qr/TilerResendSeconds: '-1' is not a whole number in 0\.\.86400/],
    ['TilerBrokers "host:1 host:2"', qr/TilerBrokers/],
    ['TilerKafkaProperty no.such.property 1', qr/TilerKafkaProperty no\.such\.property: .*No such configuration property/],
    ['TilerKafkaProperty security.protocol carrier-pigeon', qr/TilerKafkaProperty security\.protocol/],
    ['<Location /x>\nTilerTileSize 256\n</Location>', qr/TilerTileSize not allowed in <Location> context/],
);
for my $case (@bad) {
    my ($directive, $want) = @$case;
    $t->{directives} = $directive =~ s/\\n/\n/gr;
    $t->write_httpd_conf;
    my $out = `apache2 -t -f @{[$t->dir]}/httpd.conf 2>&1`;
    isnt($?, 0, "'$directive' stops startup");
    like($out, $want, "'$directive': the message names it");
}
# 2^36 pixels (68.7 GP) is accepted: the old ceiling was 536,870,911.
$t->{directives} = "TilerTileSize 256\nTilerKafkaProperty security.protocol plaintext\nTilerResendSeconds 0\n"
                 . "TilerMaxPixels 68719476736\nTilerMaxWholeDecodePixels 100000000\n";
$t->write_httpd_conf;
my $out = `apache2 -t -f @{[$t->dir]}/httpd.conf 2>&1`;
is($?, 0, 'good values pass') or diag($out);

# No broker at all: the upload waits TilerProduceTimeout, then the job is
# failed with the reason and the client gets a 503 naming it.
{
    $t->{brokers} = '127.0.0.1:1';
    $t->{directives} = "TilerProduceTimeout 2000\n";
    $t->{allow_log} = [qr/Connect to ipv4#127\.0\.0\.1:1 failed/, qr/brokers are down/,
                       qr/AH30405: job [0-9a-f]{32} failed/, qr/Failed to resolve|Connection refused/,
                       qr/AH30314: topics not ready yet: creating topics: .*Timed out/];
    $t->start_httpd;
    my $png = $t->make_image('a.png', 40, 30, 'png', 0, 1);
    my ($r, $j) = $t->submit($png, 'invert');
    is($r->{status}, 503, 'no broker: 503');
    is($j->{error}, 'kafka_unavailable', 'error code kafka_unavailable');
    like($j->{message}, qr/unknown to the Kafka brokers|not acknowledge|acknowledged no tile|not delivered/, "reason: $j->{message}");
    my ($lr, $list) = $t->request('GET', '/tiler/api/jobs');
    my ($job) = @{ $list->{jobs} };
    is($job->{state}, 'failed', 'the job is recorded as failed');
    ok(length($job->{error} // ''), "with its reason: " . ($job->{error} // ''));
    ok(defined $job->{finished}, 'and a finish time');
    $t->finish;
}
done_testing;
