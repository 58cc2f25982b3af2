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

    let mut ttl = p;
    ttl[8] = 254;
    assert_eq!(decode_ipv4(&ttl), Err(Defect::Ttl));

    let mut sum = p;
    sum[20 + 2] ^= 1;
    assert_eq!(decode_ipv4(&sum), Err(Defect::Checksum));

    let mut version = p;
    version[20] = 0x31;
    // Keep the checksum right so the version check is what fails.
    version[26] = 0;
    version[27] = 0;
    let s = checksum(&version[20..]);
    version[26..28].copy_from_slice(&s.to_be_bytes());
    assert_eq!(decode_ipv4(&version), Err(Defect::Version));

    assert_eq!(decode_ipv4(&p[..50]), Err(Defect::Malformed));
    let mut proto = p;
    proto[9] = 17;
    assert_eq!(decode_ipv4(&proto), Err(Defect::Malformed));
    assert_eq!(source_of(&p), Some(src));
}

#[test]
fn ip_options_are_skipped() {
    let pass = Password::new(b"secret");
    let a = Advert::signed(3, 1, 0, 42, &pass, &[]);
    let p = encode_ipv4(Ipv4Addr::new(10, 0, 0, 1), &a);
    let mut with_options = Vec::from(&p[..20]);
    with_options[0] = 0x46;
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
