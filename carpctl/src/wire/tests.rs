//! The codec against independent references: RFC 1071, Python's hmac, a ucarp capture, and
//! arbitrary bytes for the decoder.

use super::*;
use proptest::prelude::*;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn vip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn checksum_of_rfc1071_example() {
    // The worked example of RFC 1071 section 3: the sum is 0xddf2, its complement 0x220d.
    assert_eq!(
        checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
        0x220d
    );
}

#[test]
fn checksum_pads_an_odd_byte() {
    assert_eq!(checksum(&[0x12]), !0x1200);
}

#[test]
fn hmac_matches_an_independent_implementation() {
    // Reference values from Python's hmac module over the message layout of ip_carp.c.
    let pass = Password::new(b"FMxjubyqfNYTVAdS6aZ");
    let addrs = [vip("10.0.10.100"), vip("10.0.10.99")];
    assert_eq!(
        hex(&hmac(&pass, 10, &addrs, 0x0102_0304_0506_0708)),
        "f742dfb18a2dcec9043b0cec5559b8cbaa1a43ff"
    );
}

#[test]
fn password_keeps_19_bytes_like_freebsd() {
    let long = Password::new(b"12345678901234567890abc");
    let exact = Password::new(b"1234567890123456789");
    assert_eq!(long, exact);
    assert_eq!(
        hex(&hmac(&long, 7, &[vip("192.168.0.1")], 1)),
        "81cb2780aa8fd52dbc7ab5ab2fcae7c2cb0f30ba"
    );
    assert_eq!(format!("{long:?}"), "Password(<hidden>)");
}

#[test]
fn header_layout_is_freebsds() {
    let pass = Password::new(b"secret");
    let a = Advert::signed(
        10,
        1,
        100,
        0x1122_3344_5566_7788,
        &pass,
        &[vip("10.0.10.100")],
    );
    let b = a.encode();
    assert_eq!(&b[..6], &[0x21, 10, 100, 7, 0, 1]);
    assert_eq!(&b[8..16], &[0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88]);
    assert_eq!(checksum(&b), 0, "a header with its checksum sums to zero");
    assert_eq!(decode_header(&b), Ok(a));
    assert!(a.verify(&pass, &[vip("10.0.10.100")]));
    assert!(!a.verify(&Password::new(b"other"), &[vip("10.0.10.100")]));
    assert!(!a.verify(&pass, &[vip("10.0.10.101")]));
}

#[test]
fn ipv4_packet_round_trips_and_names_each_defect() {
    let pass = Password::new(b"secret");
    let src = Ipv4Addr::new(10, 0, 10, 11);
    let a = Advert::signed(3, 1, 0, 42, &pass, &[vip("10.0.10.100")]);
    let p = encode_ipv4(src, &a);
    assert_eq!(p.len(), 56);
    assert_eq!(checksum(&p[..20]), 0, "IPv4 header checksum");
    assert_eq!(
        decode_ipv4(&p),
        Ok(Received {
            src,
            dst: GROUP,
            advert: a
        })
    );

    let mut ttl = p.clone();
    ttl[8] = 254;
    assert_eq!(decode_ipv4(&ttl), Err(Defect::Ttl));

    let mut sum = p.clone();
    sum[20 + 2] ^= 1;
    assert_eq!(decode_ipv4(&sum), Err(Defect::Checksum));

    let mut version = p.clone();
    version[20] = 0x31;
    // Keep the checksum right so the version check is what fails.
    version[26] = 0;
    version[27] = 0;
    let s = checksum(&version[20..]);
    version[26..28].copy_from_slice(&s.to_be_bytes());
    assert_eq!(decode_ipv4(&version), Err(Defect::Version));

    assert_eq!(decode_ipv4(&p[..50]), Err(Defect::Malformed));
    let mut proto = p.clone();
    proto[9] = 17;
    assert_eq!(decode_ipv4(&proto), Err(Defect::Malformed));
    assert_eq!(source_of(&p), Some(src));
    let mut vrrp = p.clone();
    vrrp[20] = 0x31;
    assert_eq!(
        decode_ipv4(&vrrp),
        Err(Defect::Version),
        "a VRRP advert is named as another version even though its checksum does not fit CARP"
    );
}

#[test]
fn ip_options_are_skipped() {
    let pass = Password::new(b"secret");
    let a = Advert::signed(3, 1, 0, 42, &pass, &[]);
    let p = encode_ipv4(Ipv4Addr::new(10, 0, 0, 1), &a);
    let mut with_options = Vec::from(&p[..20]);
    with_options[0] = 0x46;
    with_options[3] = 60; // the total length grows by the options
    with_options.extend_from_slice(&[1, 1, 1, 0]);
    with_options.extend_from_slice(&p[20..]);
    assert_eq!(decode_ipv4(&with_options).map(|r| r.advert), Ok(a));
}

proptest! {
    #[test]
    fn decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
        let _ = decode_ipv4(&bytes);
        let _ = decode_header(&bytes);
        let _ = source_of(&bytes);
    }

    #[test]
    fn decoding_a_valid_prefix_with_random_tail_never_panics(
        ihl in 0u8..16, ttl in any::<u8>(), tail in proptest::collection::vec(any::<u8>(), 0..80)
    ) {
        let mut p = vec![0x40 | ihl, 0, 0, 0, 0, 0, 0, 0, ttl, PROTOCOL];
        p.extend_from_slice(&tail);
        let _ = decode_ipv4(&p);
    }

    #[test]
    fn encode_decode_round_trip(vhid in any::<u8>(), advbase in any::<u8>(), advskew in any::<u8>(),
                                counter in any::<u64>()) {
        let a = Advert::signed(vhid, advbase, advskew, counter, &Password::new(b"p"), &[]);
        prop_assert_eq!(decode_header(&a.encode()), Ok(a));
    }
}

mod vrrp3 {
    //! VRRPv3 against RFC 5798's layout, keepalived's bytes, and arbitrary input.

    use super::super::ip::{self, Datagram};
    use super::super::vrrp::*;
    use super::*;
    use std::net::Ipv6Addr;

    fn v4(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn layout_is_rfc_5798s() {
        let a = VrrpAdvert {
            vrid: 7,
            priority: 100,
            interval_cs: 20,
            addrs: vec![v4("10.77.0.100"), v4("10.77.0.101")],
        };
        let (src, dst) = (v4("10.77.0.1"), IpAddr::V4(GROUP));
        let m = a.encode(src, dst);
        assert_eq!(&m[..6], &[0x31, 7, 100, 2, 0, 20]);
        assert_eq!(&m[8..], &[10, 77, 0, 100, 10, 77, 0, 101]);
        let pseudo = ip::pseudo_header(src, dst, m.len()).unwrap();
        assert_eq!(pseudo, [10, 77, 0, 1, 224, 0, 0, 18, 0, 112, 0, 16]);
        assert_eq!(checksum_parts(&[&pseudo, &m]), 0);
        assert_ne!(checksum(&m), 0, "the pseudo-header is part of the sum");
        assert_eq!(VrrpAdvert::decode(&m, src, dst), Ok(a.clone()));
        // Sent to a unicast peer, the same advert has another checksum.
        assert_eq!(
            VrrpAdvert::decode(&m, src, v4("10.77.0.2")),
            Err(Defect::Checksum)
        );
    }

    #[test]
    fn each_defect_is_named() {
        let a = VrrpAdvert {
            vrid: 7,
            priority: 100,
            interval_cs: 100,
            addrs: vec![v4("10.77.0.100")],
        };
        let (src, dst) = (v4("10.77.0.1"), IpAddr::V4(GROUP));
        let m = a.encode(src, dst);
        let mut sum = m.clone();
        sum[2] = 101;
        assert_eq!(VrrpAdvert::decode(&sum, src, dst), Err(Defect::Checksum));
        let carp = Advert::signed(7, 1, 0, 1, &Password::new(b"p"), &[]).encode();
        assert_eq!(VrrpAdvert::decode(&carp, src, dst), Err(Defect::Version));
        assert_eq!(
            VrrpAdvert::decode(&m[..11], src, dst),
            Err(Defect::Malformed),
            "fewer bytes than the count of addresses needs"
        );
        let mut kind = m.clone();
        kind[0] = 0x32;
        assert_eq!(VrrpAdvert::decode(&kind, src, dst), Err(Defect::Malformed));
        let mut padded = m.clone();
        padded.extend_from_slice(&[0; 6]);
        assert_eq!(
            VrrpAdvert::decode(&padded, src, dst),
            Ok(a),
            "Ethernet padding after the addresses is not part of the message"
        );
    }

    #[test]
    fn ipv6_checksum_covers_the_ipv6_pseudo_header() {
        let src: IpAddr = "fe80::1".parse().unwrap();
        let dst = IpAddr::V6(GROUP_V6);
        let a = VrrpAdvert {
            vrid: 8,
            priority: 0,
            interval_cs: 100,
            addrs: vec!["fd77::100".parse().unwrap(), v4("10.0.0.1")],
        };
        let m = a.encode(src, dst);
        assert_eq!(
            m.len(),
            8 + 16,
            "the IPv4 address cannot ride in an IPv6 advert"
        );
        let pseudo = ip::pseudo_header(src, dst, m.len()).unwrap();
        assert_eq!(pseudo.len(), 40);
        assert_eq!(&pseudo[32..], &[0, 0, 0, 24, 0, 0, 0, 112]);
        let back = VrrpAdvert::decode(&m, src, dst).unwrap();
        assert_eq!(back.addrs, vec!["fd77::100".parse::<IpAddr>().unwrap()]);
        assert_eq!(
            VrrpAdvert::decode(&m, "fe80::2".parse().unwrap(), dst),
            Err(Defect::Checksum)
        );
    }

    #[test]
    fn adverts_captured_from_keepalived_decode() {
        // See tests/fixtures/README.md for how the capture was made.
        let frames = pcap_frames(include_bytes!("../../tests/fixtures/keepalived-vrrp3.pcap"));
        let mut seen = Vec::new();
        for frame in &frames {
            let d = match &frame[12..14] {
                [0x08, 0x00] => ip::parse_ipv4(&frame[14..]).expect("an IPv4 packet"),
                [0x86, 0xdd] => ipv6_datagram(&frame[14..]),
                other => panic!("unexpected ethertype {other:?}"),
            };
            assert_eq!(d.hop_limit, TTL);
            let a =
                VrrpAdvert::decode(&d.payload, d.src, d.dst).expect("keepalived's advert decodes");
            // Our encoder writes the same bytes for the same values.
            assert_eq!(
                a.encode(d.src, d.dst),
                d.payload[..a.encode(d.src, d.dst).len()]
            );
            seen.push((a.vrid, a.priority, a.interval_cs, d.dst, a.addrs));
        }
        let find = |vrid: u8, priority: u8| {
            seen.iter()
                .find(|s| s.0 == vrid && s.1 == priority)
                .unwrap_or_else(|| panic!("no advert of vrid {vrid} priority {priority}"))
        };
        let group = IpAddr::V4(GROUP);
        assert_eq!(find(7, 150).2, 50, "advert_int 0.5 is 50 centiseconds");
        assert_eq!(
            (find(7, 150).3, &find(7, 150).4),
            (group, &vec![v4("10.77.0.100")])
        );
        assert_eq!(find(8, 120).3, IpAddr::V6(GROUP_V6));
        assert_eq!(find(8, 120).4, vec!["fd77::100".parse::<IpAddr>().unwrap()]);
        assert_eq!(find(9, 110).3, v4("10.77.0.1"), "unicast_peer");
        // Stopped with SIGTERM, keepalived sends priority 0 on each instance.
        for vrid in [7, 8, 9] {
            find(vrid, PRIORITY_STOP);
        }
    }

    /// The datagram of an IPv6 packet without extension headers, as the engine's socket
    /// reports it.
    fn ipv6_datagram(p: &[u8]) -> Datagram {
        assert_eq!(p[6], super::super::PROTOCOL, "no extension headers");
        let addr = |at: usize| IpAddr::V6(<[u8; 16]>::try_from(&p[at..at + 16]).unwrap().into());
        let len = usize::from(u16::from_be_bytes([p[4], p[5]]));
        Datagram {
            src: addr(8),
            dst: addr(24),
            hop_limit: p[7],
            payload: p[40..40 + len].to_vec(),
        }
    }

    proptest! {
        #[test]
        fn decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..128),
                                 six in any::<bool>()) {
            let (src, dst) = if six {
                (IpAddr::V6(Ipv6Addr::LOCALHOST), IpAddr::V6(GROUP_V6))
            } else {
                (v4("10.0.0.1"), IpAddr::V4(GROUP))
            };
            let _ = VrrpAdvert::decode(&bytes, src, dst);
            let _ = VrrpAdvert::decode(&bytes, src, IpAddr::V4(GROUP));
            let _ = ip::parse_ipv4(&bytes);
        }

        #[test]
        fn round_trip(vrid in any::<u8>(), priority in any::<u8>(), interval_cs in 0u16..=MAX_INTERVAL_CS,
                      addrs in proptest::collection::vec(any::<[u8; 4]>(), 0..20), dst in any::<[u8; 4]>()) {
            let a = VrrpAdvert {
                vrid, priority, interval_cs,
                addrs: addrs.into_iter().map(|o| IpAddr::V4(o.into())).collect(),
            };
            let (src, dst) = (v4("192.0.2.1"), IpAddr::V4(dst.into()));
            prop_assert_eq!(VrrpAdvert::decode(&a.encode(src, dst), src, dst), Ok(a));
        }

        #[test]
        fn round_trip_v6(priority in any::<u8>(), interval_cs in 0u16..=MAX_INTERVAL_CS,
                         addrs in proptest::collection::vec(any::<[u8; 16]>(), 0..5)) {
            let a = VrrpAdvert {
                vrid: 1, priority, interval_cs,
                addrs: addrs.into_iter().map(|o| IpAddr::V6(o.into())).collect(),
            };
            let (src, dst) = ("fe80::1".parse().unwrap(), IpAddr::V6(GROUP_V6));
            prop_assert_eq!(VrrpAdvert::decode(&a.encode(src, dst), src, dst), Ok(a));
        }
    }
}

/// The Ethernet frames of a classic little-endian pcap file.
fn pcap_frames(file: &[u8]) -> Vec<&[u8]> {
    assert_eq!(&file[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "little-endian pcap");
    assert_eq!(
        u32::from_le_bytes(file[20..24].try_into().unwrap()),
        1,
        "Ethernet link type"
    );
    let mut frames = Vec::new();
    let mut at = 24;
    while at + 16 <= file.len() {
        let len = u32::from_le_bytes(file[at + 8..at + 12].try_into().unwrap()) as usize;
        frames.push(&file[at + 16..at + 16 + len]);
        at += 16 + len;
    }
    frames
}

#[test]
fn adverts_captured_from_ucarp_decode_and_verify() {
    // See tests/fixtures/README.md for how the capture was made.
    let frames = pcap_frames(include_bytes!("../../tests/fixtures/ucarp-vhid7.pcap"));
    assert_eq!(frames.len(), 2);
    let vips = [vip("10.77.0.100")];
    for frame in frames {
        assert_eq!(&frame[12..14], &[0x08, 0x00], "IPv4 in Ethernet");
        let r = decode_ipv4(&frame[14..]).expect("ucarp's advert decodes");
        assert_eq!(r.src, Ipv4Addr::new(10, 77, 0, 2));
        assert_eq!(r.dst, GROUP);
        assert_eq!(
            (r.advert.vhid, r.advert.advbase, r.advert.advskew),
            (7, 1, 50)
        );
        assert_eq!(r.advert.kind, 1);
        assert!(r.advert.verify(&Password::new(b"ucarp-test-pass"), &vips));
        assert!(!r.advert.verify(&Password::new(b"ucarp-test-pasS"), &vips));
        assert!(!r
            .advert
            .verify(&Password::new(b"ucarp-test-pass"), &[vip("10.77.0.101")]));
        // Our encoder writes the same header bytes for the same values.
        assert_eq!(&r.advert.encode()[..], &frame[14 + 20..14 + 56]);
    }
}
