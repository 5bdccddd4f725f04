//! Tests for the kv family: one fixture per vendor form, written from each vendor's log reference
//! (see docs/formats/kv.md), exact fields, strictness against the other formats, and no-panic.

use super::*;
use crate::event::Proto;
use crate::time::civil_to_micros;

fn ctx() -> Ctx {
    Ctx::new(civil_to_micros(2024, 6, 1, 0, 0, 0, 0).unwrap())
}

fn ev(f: Format, line: &str) -> Event<'_> {
    match parse(f, line.as_bytes(), &ctx()) {
        Outcome::Event(e) => e,
        o => panic!("{f:?}: not an event: {o:?} for {line}"),
    }
}

fn a(s: &str) -> Option<IpAddr> {
    Some(s.parse().unwrap())
}

fn t(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<Micros> {
    civil_to_micros(y, mo, d, h, mi, s, 0)
}

const FORTIGATE: &str = r#"<189>date=2024-03-04 time=10:11:12 devname="FGT-HQ" devid="FG100E0000000001" logid="0000000013" type="traffic" subtype="forward" level="notice" vd="root" srcip=192.0.2.10 srcport=51515 srcintf="port1" srcintfrole="lan" dstip=198.51.100.20 dstport=443 dstintf="wan1" dstintfrole="wan" sessionid=1234 proto=6 action="close" policyid=7 policyname="LAN to WAN" service="HTTPS" trandisp="snat" duration=30 sentbyte=1100 rcvdbyte=5000 sentpkt=11 rcvdpkt=10 appcat="unscanned""#;

const CEF_FORTI: &str = "Mar  4 10:11:12 fgt CEF:0|Fortinet|Fortigate|v7.0.12|00013|traffic:forward deny|3|deviceExternalId=FG100E0000000001 FTNTFGTlogid=0000000013 cat=traffic:forward FTNTFGTsubtype=forward src=192.0.2.10 spt=51516 deviceInboundInterface=port1 dst=203.0.113.9 dpt=23 deviceOutboundInterface=wan1 proto=6 act=deny FTNTFGTpolicyid=0 FTNTFGTsentpkt=1 FTNTFGTrcvdpkt=0 out=60 in=0";

const CEF_CP: &str = r"<134>Mar  4 10:11:12 cp-gw CEF:0|Check Point|VPN-1 & FireWall-1|Check Point|Log|https|Unknown|act=Accept deviceDirection=0 rt=1709547072000 spt=51000 dpt=443 src=192.0.2.11 dst=198.51.100.30 proto=6 deviceInboundInterface=eth1 cs2Label=Rule Name cs2=Allow web \= ok";

const CEF_IDS: &str = r"CEF:0|Acme\|Labs|Sensor|2.1|4242|ET SCAN Nmap Scripting Engine|8|src=203.0.113.66 spt=40000 dst=192.0.2.5 dpt=80 proto=TCP start=Mar 04 2024 10:11:12.250 act=alert";

const LEEF1: &str = "Mar  4 10:11:12 qr LEEF:1.0|Acme|Firewall|3.1|TrafficDeny|cat=fw\tsrc=192.0.2.12\tdst=198.51.100.40\tsrcPort=5353\tdstPort=53\tproto=UDP\taction=blocked\tsrcBytes=70\tdstBytes=0\tsev=5\tdevTime=Mar 04 2024 10:11:12\tusrName=bob smith";

const LEEF2: &str = "LEEF:2.0|Acme|Firewall|3.1|TrafficAllow|^|src=192.0.2.13^dst=198.51.100.41^srcPort=40001^dstPort=22^proto=6^action=permit^totalBytes=900^totalPackets=12^devTime=1709547072";

const CP_SYSLOG: &str = r#"<134>1 2024-03-04T10:11:12Z cp-gw CheckPoint 2930 - [action:"Drop"; flags:"400644"; ifdir:"inbound"; ifname:"eth0"; loguid:"{0x65e59e40,0x0,0x1,0x2}"; origin:"192.0.2.1"; originsicname:"cn=cp_mgmt,o=gw..abc"; sequencenum:"5"; time:"1709547072"; version:"5"; dst:"192.0.2.1"; layer_name:"Network"; match_id:"3"; rule_name:"Stealth \"rule\""; s_port:"45000"; service:"22"; service_id:"ssh"; src:"203.0.113.7"; proto:"6"]"#;

const SONICWALL: &str = r#"<134>id=firewall sn=0017C5000001 time="2024-03-04 10:11:12 UTC" fw=198.51.100.1 pri=6 c=262144 m=98 msg="Connection Opened" app=49177 n=12345 src=192.0.2.14:52000:X0 dst=198.51.100.50:443:X1 srcMac=00:11:22:33:44:55 proto=tcp/https sent=1500 rcvd=3000 spkt=10 rpkt=12 rule="5 (LAN->WAN)" fw_action="NA""#;

const SOPHOS: &str = r#"device="SFW" date=2024-03-04 time=10:11:12 timezone="UTC" device_name="XG125" device_id=C01001ABCDEF log_id=010101600001 log_type="Firewall" log_component="Firewall Rule" log_subtype="Denied" status="Deny" priority=Information duration=0 fw_rule_id=9 policy_type=1 user_name="" in_interface="Port2" out_interface="" src_ip=203.0.113.80 dst_ip=192.0.2.15 protocol="TCP" src_port=61000 dst_port=3389 sent_pkts=0 recv_pkts=0 sent_bytes=0 recv_bytes=0"#;

const STORMSHIELD: &str = r#"id=firewall time="2024-03-04 10:11:12" fw="SN310A00000001" tz=+0000 startime="2024-03-04 10:11:00" pri=5 confid=01 slotlevel=2 ruleid=4 srcif="Ethernet0" srcifname="out" ipproto=udp dstif="Ethernet1" dstifname="in" proto=dns src=192.0.2.16 srcport=50000 srcportname=ephemeral_fw_udp dst=198.51.100.53 dstport=53 dstportname=dns_udp action=pass sent=60 rcvd=120 duration=0.01 logtype="connection""#;

const CLAVISTER: &str = "<134>[2024-03-04 10:11:12] EFW: CONN: prio=1 id=00600002 rev=1 event=conn_close action=close rule=lan_to_wan conn=close connipproto=TCP connrecvif=lan connsrcip=192.0.2.17 connsrcport=50123 conndestif=wan conndestip=198.51.100.60 conndestport=80 origsent=640 termsent=4096";

const BARRACUDA: &str = "2024 03 04 11:11:12 Security +01:00 Block: type=FWD|proto=UDP|srcIF=eth0|srcIP=192.0.2.18|srcPort=54915|srcMAC=00:11:22:33:44:66|dstIP=192.0.2.255|dstPort=54915|dstService=|dstIF=|rule=BLOCKALL|info=Block by Rule|srcNAT=0.0.0.0|dstNAT=0.0.0.0|duration=0|count=1|receivedBytes=0|sentBytes=0|receivedPackets=0|sentPackets=0|user=|protocol=|application=|target=|content=|urlcat=";

const MERAKI: &str = "<134>1 1709547072.123456789 MX84 flows src=192.0.2.19 dst=198.51.100.70 mac=00:18:0A:00:00:01 protocol=udp sport=9562 dport=53 pattern: allow all";

const WATCHGUARD: &str = r#"2024-03-04 10:11:12 Allow 192.0.2.20 198.51.100.80 http/tcp 42017 80 Trusted External Allowed 60 63 (HTTP-proxy.1-00) proc_id="firewall" rc="100" msg_id="3000-0148" src_ip_nat="203.0.113.2" sent_pkts="10" rcvd_pkts="5" sent_bytes="564" rcvd_bytes="785""#;

#[test]
fn fortigate_kv_exact() {
    assert_eq!(
        ev(Format::Fortigate, FORTIGATE),
        Event {
            tcp_flags: Default::default(),
            ts: t(2024, 3, 4, 10, 11, 12),
            src_ip: a("192.0.2.10"),
            dst_ip: a("198.51.100.20"),
            src_port: Some(51515),
            dst_port: Some(443),
            proto: Some(Proto::TCP),
            action: Some(Action::Allow),
            direction: None,
            iface: Some("port1"),
            bytes: Some(6100),
            packets: Some(21),
            rule: Some("LAN to WAN"),
            dns_qtype: None,
            dns_qname: None,
            signature: None,
            severity: None,
        }
    );
    // Event logs and lines without FortiGate markers are skipped.
    let p = |s: &'static str| parse(Format::Fortigate, s.as_bytes(), &ctx());
    assert_eq!(
        p(
            r#"date=2024-03-04 time=10:11:12 devname="F" logid="0100032001" type="event" subtype="system" srcip=10.0.0.1 dstip=10.0.0.2"#
        ),
        Outcome::Skipped("fortigate: not a traffic event (no source/destination)")
    );
    assert_eq!(
        p("srcip=1.1.1.1 dstip=2.2.2.2 action=accept"),
        Outcome::Skipped("fortigate: no devname=/logid= or Fortinet CEF")
    );
    assert_eq!(
        p(r#"devname="F" logid="13" type="traffic" srcip=1.1.1 dstip=2.2.2.2"#),
        Outcome::Error("fortigate: bad source address")
    );
}

#[test]
fn ports_as_written_except_icmp() {
    // GRE (and other protocols without ports): 0 0 as the device wrote them.
    let gre = FORTIGATE
        .replace("srcport=51515", "srcport=0")
        .replace("dstport=443", "dstport=0")
        .replace("proto=6", "proto=47");
    let e = ev(Format::Fortigate, &gre);
    assert_eq!(
        (e.proto, e.src_port, e.dst_port),
        (Some(Proto::GRE), Some(0), Some(0))
    );
    // ICMP: the port slots hold the echo id and type/code, not ports.
    let icmp = FORTIGATE
        .replace("srcport=51515", "srcport=2048")
        .replace("dstport=443", "dstport=8")
        .replace("proto=6", "proto=1");
    let e = ev(Format::Fortigate, &icmp);
    assert_eq!(
        (e.proto, e.src_port, e.dst_port),
        (Some(Proto::ICMP), None, None)
    );
    let icmp6 = SOPHOS
        .replace("protocol=\"TCP\"", "protocol=\"ICMPv6\"")
        .replace("src_port=61000", "src_port=128")
        .replace("dst_port=3389", "dst_port=0");
    let e = ev(Format::Sophos, &icmp6);
    assert_eq!(
        (e.proto, e.src_port, e.dst_port),
        (Some(Proto::ICMPV6), None, None)
    );
}

#[test]
fn fortigate_over_cef_and_generic_cef() {
    for f in [Format::Fortigate, Format::Cef] {
        let e = ev(f, CEF_FORTI);
        assert_eq!(
            e,
            Event {
                tcp_flags: Default::default(),
                ts: t(2024, 3, 4, 10, 11, 12),
                src_ip: a("192.0.2.10"),
                dst_ip: a("203.0.113.9"),
                src_port: Some(51516),
                dst_port: Some(23),
                proto: Some(Proto::TCP),
                action: Some(Action::Deny),
                direction: None,
                iface: Some("port1"),
                bytes: Some(60),
                packets: Some(1),
                rule: Some("0"),
                dns_qtype: None,
                dns_qname: None,
                signature: None,
                severity: Some(3),
            }
        );
    }
    assert_eq!(
        parse(Format::Checkpoint, CEF_FORTI.as_bytes(), &ctx()),
        Outcome::Skipped("checkpoint: no Check Point marker (loguid, originsicname)")
    );
    assert_eq!(
        parse(Format::Leef, CEF_FORTI.as_bytes(), &ctx()),
        Outcome::Skipped("leef: no LEEF: header")
    );
}

#[test]
fn checkpoint_cef_rule_label_direction_rt() {
    for f in [Format::Checkpoint, Format::Cef] {
        let e = ev(f, CEF_CP);
        assert_eq!(e.ts, t(2024, 3, 4, 10, 11, 12));
        assert_eq!((e.src_ip, e.dst_ip), (a("192.0.2.11"), a("198.51.100.30")));
        assert_eq!(
            (e.src_port, e.dst_port, e.proto),
            (Some(51000), Some(443), Some(Proto::TCP))
        );
        assert_eq!(
            (e.action, e.direction),
            (Some(Action::Allow), Some(Direction::In))
        );
        assert_eq!((e.iface, e.rule), (Some("eth1"), Some(r"Allow web \= ok")));
        assert_eq!(
            (e.signature, e.severity, e.bytes),
            (Some("https"), None, None)
        );
    }
}

#[test]
fn cef_alert_escaped_pipe_and_text_date() {
    let e = ev(Format::Cef, CEF_IDS);
    assert_eq!(e.ts, civil_to_micros(2024, 3, 4, 10, 11, 12, 250_000));
    assert_eq!(
        (e.src_ip, e.dst_port, e.proto),
        (a("203.0.113.66"), Some(80), Some(Proto::TCP))
    );
    assert_eq!(
        (e.signature, e.severity, e.action),
        (Some("ET SCAN Nmap Scripting Engine"), Some(8), None)
    );
    // A vendor name does not claim another vendor's CEF.
    assert_eq!(
        parse(Format::Fortigate, CEF_IDS.as_bytes(), &ctx()),
        Outcome::Skipped("fortigate: no devname=/logid= or Fortinet CEF")
    );
    assert_eq!(
        parse(Format::Cef, b"CEF:0|a|b|c", &ctx()),
        Outcome::Error("cef: truncated header")
    );
    assert_eq!(
        parse(Format::Cef, b"CEF:0|a|b|c|d|e|5|msg=no addresses", &ctx()),
        Outcome::Skipped("cef: not a traffic event (no source/destination)")
    );
}

#[test]
fn leef_1_and_2() {
    let e = ev(Format::Leef, LEEF1);
    assert_eq!(
        e,
        Event {
            tcp_flags: Default::default(),
            ts: t(2024, 3, 4, 10, 11, 12),
            src_ip: a("192.0.2.12"),
            dst_ip: a("198.51.100.40"),
            src_port: Some(5353),
            dst_port: Some(53),
            proto: Some(Proto::UDP),
            action: Some(Action::Deny),
            direction: None,
            iface: None,
            bytes: Some(70),
            packets: None,
            rule: None,
            dns_qtype: None,
            dns_qname: None,
            signature: None,
            severity: Some(5),
        }
    );
    let e = ev(Format::Leef, LEEF2);
    assert_eq!(
        (e.src_ip, e.dst_port, e.proto),
        (a("192.0.2.13"), Some(22), Some(Proto::TCP))
    );
    assert_eq!(
        (e.action, e.bytes, e.packets, e.ts),
        (
            Some(Action::Allow),
            Some(900),
            Some(12),
            t(2024, 3, 4, 10, 11, 12)
        )
    );
    let hex = LEEF2.replace("|^|", "|x09|").replace('^', "\t");
    assert_eq!(ev(Format::Leef, &hex).dst_port, Some(22));
    let spaces = LEEF1.replace('\t', " ");
    assert_eq!(ev(Format::Leef, &spaces).dst_port, Some(53));
    assert_eq!(
        parse(Format::Cef, LEEF1.as_bytes(), &ctx()),
        Outcome::Skipped("cef: no CEF: header")
    );
}

#[test]
fn checkpoint_syslog_exporter() {
    assert_eq!(
        ev(Format::Checkpoint, CP_SYSLOG),
        Event {
            tcp_flags: Default::default(),
            ts: t(2024, 3, 4, 10, 11, 12),
            src_ip: a("203.0.113.7"),
            dst_ip: a("192.0.2.1"),
            src_port: Some(45000),
            dst_port: Some(22),
            proto: Some(Proto::TCP),
            action: Some(Action::Deny),
            direction: Some(Direction::In),
            iface: Some("eth0"),
            bytes: None,
            packets: None,
            rule: Some(r#"Stealth \"rule\""#),
            dns_qtype: None,
            dns_qname: None,
            signature: None,
            severity: None,
        }
    );
    let kv = r#"time=1709547072 action="Accept" loguid="{0x1}" src=192.0.2.2 dst=192.0.2.3 proto=17 s_port=1000 service=53 ifdir=outbound"#;
    let e = ev(Format::Checkpoint, kv);
    assert_eq!(
        (e.action, e.direction, e.proto),
        (Some(Action::Allow), Some(Direction::Out), Some(Proto::UDP))
    );
    assert_eq!(
        parse(
            Format::Checkpoint,
            b"src=1.1.1.1 dst=2.2.2.2 action=Accept",
            &ctx()
        ),
        Outcome::Skipped("checkpoint: no Check Point marker (loguid, originsicname)")
    );
}

#[test]
fn sonicwall_host_port_iface() {
    assert_eq!(
        ev(Format::Sonicwall, SONICWALL),
        Event {
            tcp_flags: Default::default(),
            ts: t(2024, 3, 4, 10, 11, 12),
            src_ip: a("192.0.2.14"),
            dst_ip: a("198.51.100.50"),
            src_port: Some(52000),
            dst_port: Some(443),
            proto: Some(Proto::TCP),
            action: Some(Action::Allow),
            direction: None,
            iface: Some("X0"),
            bytes: Some(4500),
            packets: Some(22),
            rule: Some("5 (LAN->WAN)"),
            dns_qtype: None,
            dns_qname: None,
            signature: None,
            severity: None,
        }
    );
    let drop = SONICWALL
        .replace(r#"msg="Connection Opened""#, r#"msg="TCP packet dropped""#)
        .replace(r#"fw_action="NA""#, r#"fw_action="drop""#)
        .replace("src=192.0.2.14:52000:X0", "src=2001:db8::5:52000:X0");
    let e = ev(Format::Sonicwall, &drop);
    assert_eq!(
        (e.action, e.src_ip, e.src_port),
        (Some(Action::Deny), a("2001:db8::5"), Some(52000))
    );
    // Stormshield also prints `id=firewall`, but never `sn=`.
    assert_eq!(
        parse(Format::Sonicwall, STORMSHIELD.as_bytes(), &ctx()),
        Outcome::Skipped("sonicwall: no id=firewall sn=")
    );
}

#[test]
fn sophos_stormshield_clavister() {
    let e = ev(Format::Sophos, SOPHOS);
    assert_eq!(
        (e.src_ip, e.dst_ip, e.src_port, e.dst_port, e.proto),
        (
            a("203.0.113.80"),
            a("192.0.2.15"),
            Some(61000),
            Some(3389),
            Some(Proto::TCP)
        )
    );
    assert_eq!(
        (e.action, e.bytes, e.packets, e.iface, e.rule, e.ts),
        (
            Some(Action::Deny),
            Some(0),
            Some(0),
            Some("Port2"),
            Some("9"),
            t(2024, 3, 4, 10, 11, 12)
        )
    );
    let e = ev(Format::Stormshield, STORMSHIELD);
    assert_eq!(
        e,
        Event {
            tcp_flags: Default::default(),
            ts: t(2024, 3, 4, 10, 11, 12),
            src_ip: a("192.0.2.16"),
            dst_ip: a("198.51.100.53"),
            src_port: Some(50000),
            dst_port: Some(53),
            proto: Some(Proto::UDP),
            action: Some(Action::Allow),
            direction: None,
            iface: Some("Ethernet0"),
            bytes: Some(180),
            packets: None,
            rule: Some("4"),
            dns_qtype: None,
            dns_qname: None,
            signature: None,
            severity: None,
        }
    );
    assert_eq!(
        parse(Format::Stormshield, SONICWALL.as_bytes(), &ctx()),
        Outcome::Skipped("stormshield: no id=firewall with Stormshield keys")
    );
    let e = ev(Format::Clavister, CLAVISTER);
    assert_eq!(
        e,
        Event {
            tcp_flags: Default::default(),
            ts: t(2024, 3, 4, 10, 11, 12),
            src_ip: a("192.0.2.17"),
            dst_ip: a("198.51.100.60"),
            src_port: Some(50123),
            dst_port: Some(80),
            proto: Some(Proto::TCP),
            action: Some(Action::Allow),
            direction: None,
            iface: Some("lan"),
            bytes: Some(4736),
            packets: None,
            rule: Some("lan_to_wan"),
            dns_qtype: None,
            dns_qname: None,
            signature: None,
            severity: None,
        }
    );
    let drop = "[2024-03-04 10:11:12] EFW: RULE: prio=2 id=06000051 rev=1 event=rule_match action=drop rule=Default_Rule recvif=wan srcip=203.0.113.9 destip=192.0.2.1 ipproto=ICMP ipdatalen=36";
    let e = ev(Format::Clavister, drop);
    assert_eq!(
        (e.action, e.proto, e.src_port, e.iface),
        (Some(Action::Deny), Some(Proto::ICMP), None, Some("wan"))
    );
}

#[test]
fn barracuda_meraki_watchguard() {
    assert_eq!(
        ev(Format::Barracuda, BARRACUDA),
        Event {
            tcp_flags: Default::default(),
            ts: t(2024, 3, 4, 10, 11, 12),
            src_ip: a("192.0.2.18"),
            dst_ip: a("192.0.2.255"),
            src_port: Some(54915),
            dst_port: Some(54915),
            proto: Some(Proto::UDP),
            action: Some(Action::Deny),
            direction: Some(Direction::Out),
            iface: Some("eth0"),
            bytes: Some(0),
            packets: Some(0),
            rule: Some("BLOCKALL"),
            dns_qtype: None,
            dns_qname: None,
            signature: None,
            severity: None,
        }
    );
    assert_eq!(
        ev(Format::Meraki, MERAKI),
        Event {
            tcp_flags: Default::default(),
            ts: civil_to_micros(2024, 3, 4, 10, 11, 12, 123_456),
            src_ip: a("192.0.2.19"),
            dst_ip: a("198.51.100.70"),
            src_port: Some(9562),
            dst_port: Some(53),
            proto: Some(Proto::UDP),
            action: Some(Action::Allow),
            direction: None,
            iface: None,
            bytes: None,
            packets: None,
            rule: None,
            dns_qtype: None,
            dns_qname: None,
            signature: None,
            severity: None,
        }
    );
    let e = ev(
        Format::Meraki,
        "Mar  4 10:11:12 192.0.2.1 1 1709547072.5 MX60 firewall src=203.0.113.1 dst=192.0.2.1 protocol=tcp sport=1 dport=22 pattern: 1 all",
    );
    assert_eq!(e.action, Some(Action::Deny));
    let e = ev(
        Format::Meraki,
        "<134>1 1709547072.1 HQ flows deny src=192.0.2.2 dst=198.51.100.1 mac=00:00:00:00:00:01 protocol=tcp sport=61822 dport=8080",
    );
    assert_eq!((e.action, e.dst_port), (Some(Action::Deny), Some(8080)));
    assert_eq!(
        parse(
            Format::Meraki,
            b"<134>1 1709547072.1 AP urls src=192.0.2.2:1 dst=1.1.1.1:80 request: GET http://x",
            &ctx()
        ),
        Outcome::Skipped("meraki: not a traffic event (no source/destination)")
    );
    assert_eq!(
        ev(Format::Watchguard, WATCHGUARD),
        Event {
            tcp_flags: Default::default(),
            ts: t(2024, 3, 4, 10, 11, 12),
            src_ip: a("192.0.2.20"),
            dst_ip: a("198.51.100.80"),
            src_port: Some(42017),
            dst_port: Some(80),
            proto: Some(Proto::TCP),
            action: Some(Action::Allow),
            direction: None,
            iface: Some("Trusted"),
            bytes: Some(1349),
            packets: Some(15),
            rule: Some("HTTP-proxy.1-00"),
            dns_qtype: None,
            dns_qname: None,
            signature: None,
            severity: None,
        }
    );
    let icmp = r#"2024-03-04 10:11:12 Deny 192.0.2.21 192.0.2.1 echo-request/icmp Trusted Firebox Denied 84 64 (Ping-00) proc_id="firewall" rc="101" msg_id="3000-0148" type="8""#;
    let e = ev(Format::Watchguard, icmp);
    assert_eq!(
        (e.action, e.proto, e.src_port, e.bytes, e.packets, e.rule),
        (
            Some(Action::Deny),
            Some(Proto::ICMP),
            None,
            Some(84),
            Some(1),
            Some("Ping-00")
        )
    );
    let old = r#"<140>Mar  4 10:11:12 fb1 (2024-03-04T10:11:12) firewall: msg_id="3000-0148" Deny 0-External Firebox 40 tcp 20 112 203.0.113.3 198.51.100.1 45060 23 offset 5 S 1234 win 1024 (Unhandled External Packet-00)"#;
    let e = ev(Format::Watchguard, old);
    assert_eq!(
        (
            e.src_ip, e.dst_ip, e.src_port, e.dst_port, e.bytes, e.iface, e.rule, e.ts
        ),
        (
            a("203.0.113.3"),
            a("198.51.100.1"),
            Some(45060),
            Some(23),
            Some(40),
            Some("0-External"),
            Some("Unhandled External Packet-00"),
            t(2024, 3, 4, 10, 11, 12)
        )
    );
}

/// Every fixture is claimed by its own format only: auto-detection must not be confused.
#[test]
fn each_vendor_claims_only_its_lines() {
    let fixtures: &[(Format, &str)] = &[
        (Format::Fortigate, FORTIGATE),
        (Format::Cef, CEF_FORTI),
        (Format::Cef, CEF_CP),
        (Format::Cef, CEF_IDS),
        (Format::Leef, LEEF1),
        (Format::Leef, LEEF2),
        (Format::Checkpoint, CP_SYSLOG),
        (Format::Sonicwall, SONICWALL),
        (Format::Sophos, SOPHOS),
        (Format::Stormshield, STORMSHIELD),
        (Format::Clavister, CLAVISTER),
        (Format::Barracuda, BARRACUDA),
        (Format::Meraki, MERAKI),
        (Format::Watchguard, WATCHGUARD),
    ];
    let kv = [
        Format::Cef,
        Format::Leef,
        Format::Fortigate,
        Format::Checkpoint,
        Format::Sonicwall,
        Format::Watchguard,
        Format::Sophos,
        Format::Stormshield,
        Format::Clavister,
        Format::Barracuda,
        Format::Meraki,
    ];
    for &(own, line) in fixtures {
        for &f in &kv {
            let o = parse(f, line.as_bytes(), &ctx());
            let claimed = matches!(o, Outcome::Event(_));
            // Vendor names over CEF also claim their own vendor's CEF lines.
            let cef_vendor = own == Format::Cef
                && ((line == CEF_FORTI && f == Format::Fortigate)
                    || (line == CEF_CP && f == Format::Checkpoint));
            assert_eq!(
                claimed,
                f == own || cef_vendor,
                "{f:?} on {own:?} line: {o:?}"
            );
        }
        // And no other parser family claims them.
        for &f in Format::ALL {
            if !kv.contains(&f) {
                let o = crate::parse::parse_line(f, line.as_bytes(), &ctx());
                assert!(
                    !matches!(o, Outcome::Event(_)),
                    "{f:?} claimed a {own:?} line"
                );
            }
        }
    }
    // Other formats' lines are not claimed by the kv family.
    for line in [
        "Jun  8 14:34:33 h kernel: IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 LEN=40 PROTO=TCP SPT=1 DPT=2",
        "1,2024/03/04 10:11:12,0123,TRAFFIC,end,1,2024/03/04 10:11:12,1.1.1.1,2.2.2.2",
        r#"{"src":"1.1.1.1","dst":"2.2.2.2"}"#,
        "src=1.1.1.1 dst=2.2.2.2 action=allow",
    ] {
        for &f in &kv {
            let o = parse(f, line.as_bytes(), &ctx());
            assert!(
                !matches!(o, Outcome::Event(_)),
                "{f:?} claimed {line}: {o:?}"
            );
        }
    }
}

#[test]
fn time_forms() {
    assert_eq!(any_time(b"1709547072"), t(2024, 3, 4, 10, 11, 12));
    assert_eq!(any_time(b"1709547072000"), t(2024, 3, 4, 10, 11, 12));
    assert_eq!(any_time(b"1709547072000000"), t(2024, 3, 4, 10, 11, 12));
    assert_eq!(any_time(b"1709547072000000000"), t(2024, 3, 4, 10, 11, 12));
    assert_eq!(
        any_time(b"1709547072.5"),
        civil_to_micros(2024, 3, 4, 10, 11, 12, 500_000)
    );
    assert_eq!(
        any_time(b"2024-03-04 10:11:12 UTC"),
        t(2024, 3, 4, 10, 11, 12)
    );
    assert_eq!(
        any_time(b"2024-03-04T11:11:12+0100"),
        t(2024, 3, 4, 10, 11, 12)
    );
    assert_eq!(any_time(b"Mar 04 2024 10:11:12"), t(2024, 3, 4, 10, 11, 12));
    assert_eq!(any_time(b"2024/03/04 10:11:12"), t(2024, 3, 4, 10, 11, 12));
    assert_eq!(any_time(b"99999999999999999999"), None);
    assert_eq!(any_time(b"Mar"), None);
    assert_eq!(any_time(b""), None);
}

#[test]
fn never_panics_on_prefixes_mutations_and_garbage() {
    let c = ctx();
    let kv = [
        Format::Cef,
        Format::Leef,
        Format::Fortigate,
        Format::Checkpoint,
        Format::Sonicwall,
        Format::Watchguard,
        Format::Sophos,
        Format::Stormshield,
        Format::Clavister,
        Format::Barracuda,
        Format::Meraki,
    ];
    let all = [
        FORTIGATE,
        CEF_FORTI,
        CEF_CP,
        CEF_IDS,
        LEEF1,
        LEEF2,
        CP_SYSLOG,
        SONICWALL,
        SOPHOS,
        STORMSHIELD,
        CLAVISTER,
        BARRACUDA,
        MERAKI,
        WATCHGUARD,
    ];
    let run = |b: &[u8]| {
        for &f in &kv {
            let _ = parse(f, b, &c);
        }
    };
    for line in all {
        let b = line.as_bytes();
        for i in 0..=b.len() {
            run(&b[..i]);
            run(&b[i..]);
        }
        let mut m = b.to_vec();
        for i in (0..m.len()).step_by(3) {
            for v in [b'"', b'=', b'|', b'\\', b' ', b':', 0, 0xff] {
                let old = m[i];
                m[i] = v;
                run(&m);
                m[i] = old;
            }
        }
    }
    let mut x: u64 = 0x1234_5678_9abc_def1;
    let mut buf = Vec::new();
    for _ in 0..3000 {
        buf.clear();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let len = (x % 200) as usize;
        for _ in 0..len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let alphabet = b"=|\\\" :.'CEF:LEEF:0123456789abcsrdt\t^[]";
            buf.push(alphabet[(x as usize) % alphabet.len()]);
        }
        run(&buf);
    }
    for fill in [b'=', b'"', b'|', b'\\', b' '] {
        let mut big = b"CEF:0|a|b|c|d|e|1|src=1.1.1.1 dst=".to_vec();
        big.resize(1 << 20, fill);
        run(&big);
        let mut big = b"LEEF:2.0|a|b|c|d|^|src=".to_vec();
        big.resize(1 << 20, fill);
        run(&big);
        let mut big = br#"devname="x" logid=1 srcip="#.to_vec();
        big.resize(1 << 20, fill);
        run(&big);
    }
}
