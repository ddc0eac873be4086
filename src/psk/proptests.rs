//! Property tests of the handshake codec (bounded, part of the default test run): encoding
//! then decoding gives back what was encoded, and decoding arbitrary bytes never panics.

use proptest::collection::vec;
use proptest::prelude::*;

use super::codec::*;

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..=max)
}

fn nonempty(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 1..=max)
}

prop_compose! {
    fn client_hello_params()(
        random in any::<[u8; 32]>(),
        session_id in bytes(32),
        suites in vec(any::<u16>(), 1..8),
        groups in vec(any::<u16>(), 0..6),
        shares in vec((any::<u16>(), nonempty(100)), 0..3),
        modes in vec(0u8..2, 1..3),
        alpn in vec(nonempty(20), 0..4),
        cookie in proptest::option::of(nonempty(40)),
        psks in vec((nonempty(300), prop_oneof![Just(32usize), Just(48usize)]), 1..5),
        server_name in proptest::option::of("[a-z]{1,20}(\\.[a-z]{1,10}){0,3}"),
    ) -> (ClientHelloInput, ()) {
        (ClientHelloInput { random, session_id, suites, groups, shares, modes, alpn, cookie, psks, server_name }, ())
    }
}

#[derive(Debug, Clone)]
struct ClientHelloInput {
    random: [u8; 32],
    session_id: Vec<u8>,
    suites: Vec<u16>,
    groups: Vec<u16>,
    shares: Vec<(u16, Vec<u8>)>,
    modes: Vec<u8>,
    alpn: Vec<Vec<u8>>,
    cookie: Option<Vec<u8>>,
    psks: Vec<(Vec<u8>, usize)>,
    server_name: Option<String>,
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn client_hello_round_trip((input, ()) in client_hello_params(), binder_byte in any::<u8>()) {
        // Groups must be distinct per share for the decoder's duplicate check.
        let mut shares: Vec<(u16, &[u8])> = Vec::new();
        for (g, k) in &input.shares {
            if !shares.iter().any(|(x, _)| x == g) {
                shares.push((*g, k.as_slice()));
            }
        }
        let groups = if shares.is_empty() { input.groups.clone() } else {
            let mut g = input.groups.clone();
            g.extend(shares.iter().map(|(x, _)| *x));
            g
        };
        let psks: Vec<(&[u8], usize)> = input.psks.iter().map(|(i, l)| (i.as_slice(), *l)).collect();
        let (mut msg, binders_len) = encode_client_hello(&ClientHelloParams {
            random: &input.random,
            session_id: &input.session_id,
            cipher_suites: &input.suites,
            server_name: input.server_name.as_deref(),
            supported_groups: &groups,
            key_shares: &shares,
            psk_modes: &input.modes,
            alpn: &input.alpn,
            cookie: input.cookie.as_deref(),
            psks: &psks,
            tls12: None,        }).unwrap();
        let binders: Vec<Vec<u8>> = input.psks.iter().map(|(_, l)| vec![binder_byte; *l]).collect();
        let refs: Vec<&[u8]> = binders.iter().map(|b| b.as_slice()).collect();
        fill_binders(&mut msg, binders_len, &refs);

        let (typ, body) = split_handshake(&msg).unwrap();
        prop_assert_eq!(typ, hs::CLIENT_HELLO);
        let ch = ClientHello::decode(body).unwrap();
        prop_assert_eq!(ch.random, input.random);
        prop_assert_eq!(ch.session_id, &input.session_id[..]);
        prop_assert_eq!(ch.cipher_suites.to_vec(), input.suites.clone());
        prop_assert_eq!(ch.server_name, input.server_name.as_deref().map(str::as_bytes));
        if !groups.is_empty() {
            prop_assert_eq!(ch.supported_groups.map(|g| g.to_vec()), Some(groups.clone()));
            prop_assert_eq!(ch.key_shares.map(|k| k.len()), Some(shares.len()));
        }
        prop_assert_eq!(ch.psk_modes, Some(&input.modes[..]));
        let alpn: Vec<&[u8]> = input.alpn.iter().map(|p| p.as_slice()).collect();
        prop_assert_eq!(ch.alpn.map(|a| a.iter().collect::<Vec<_>>()).unwrap_or_default(), alpn);
        prop_assert_eq!(ch.cookie, input.cookie.as_deref());
        let offered = ch.psks.as_ref().unwrap();
        prop_assert_eq!(offered.len(), input.psks.len());
        for ((id, age), (want, _)) in offered.identities().zip(&input.psks) {
            prop_assert_eq!(id, &want[..]);
            prop_assert_eq!(age, 0);
        }
        prop_assert_eq!(offered.binders().collect::<Vec<_>>(), refs.clone());
        prop_assert_eq!(ch.binders_len, binders_len);
    }

    #[test]
    fn server_hello_round_trip(
        random in any::<[u8; 32]>(),
        session_id in bytes(32),
        suite in any::<u16>(),
        share in proptest::option::of((any::<u16>(), nonempty(200))),
        selected in any::<u16>(),
    ) {
        let msg = encode_server_hello(&ServerHelloParams {
            random: &random,
            session_id: &session_id,
            cipher_suite: suite,
            key_share: share.as_ref().map(|(g, k)| (*g, k.as_slice())),
            selected_identity: selected,
        }).unwrap();
        let (_, body) = split_handshake(&msg).unwrap();
        let sh = ServerHello::decode(body).unwrap();
        prop_assert_eq!(sh.is_hrr(), random == HRR_RANDOM);
        prop_assert_eq!(sh.session_id, &session_id[..]);
        prop_assert_eq!(sh.cipher_suite, suite);
        prop_assert_eq!(sh.supported_version, Some(TLS13));
        prop_assert_eq!(sh.selected_identity, Some(selected));
        if !sh.is_hrr() {
            prop_assert_eq!(sh.key_share, share.as_ref().map(|(g, k)| (*g, k.as_slice())));
        }
    }

    #[test]
    fn hello_retry_request_round_trip(
        session_id in bytes(32),
        suite in any::<u16>(),
        group in any::<u16>(),
    ) {
        let msg = encode_hello_retry_request(&session_id, suite, group).unwrap();
        let (typ, body) = split_handshake(&msg).unwrap();
        prop_assert_eq!(typ, hs::SERVER_HELLO);
        let hrr = ServerHello::decode(body).unwrap();
        prop_assert!(hrr.is_hrr());
        prop_assert_eq!(hrr.session_id, &session_id[..]);
        prop_assert_eq!(hrr.cipher_suite, suite);
        prop_assert_eq!(hrr.supported_version, Some(TLS13));
        prop_assert_eq!(hrr.key_share, Some((group, &[][..])));
        prop_assert_eq!(hrr.selected_identity, None);
    }

    #[test]
    fn encrypted_extensions_round_trip(alpn in proptest::option::of(nonempty(255)), ack in any::<bool>()) {
        let msg = encode_encrypted_extensions(alpn.as_deref(), ack).unwrap();
        let (_, body) = split_handshake(&msg).unwrap();
        let ee = EncryptedExtensions::decode(body).unwrap();
        prop_assert_eq!(ee.alpn, alpn.as_deref());
        prop_assert_eq!(ee.server_name_ack, ack);
    }

    /// Decoders never panic, and every rejection names an alert.
    #[test]
    fn decoders_never_panic(data in bytes(600)) {
        check_decoders(&data)?;
    }

    /// The same for valid encodings with a few bytes changed, cut or inserted: random bytes
    /// rarely get past the first length field, these reach the extension parsers.
    #[test]
    fn decoders_never_panic_on_mutated_encodings(
        seed in 0usize..4,
        edits in vec((any::<usize>(), any::<u8>(), 0u8..3), 1..6),
    ) {
        let mut data = valid_encodings().swap_remove(seed);
        for (at, byte, how) in edits {
            let at = at % (data.len() + 1);
            match how {
                0 if at < data.len() => data[at] = byte,
                1 => data.insert(at, byte),
                _ => data.truncate(at.max(1)),
            }
        }
        check_decoders(&data)?;
    }
}

fn check_decoders(data: &[u8]) -> Result<(), TestCaseError> {
    for result in [
        ClientHello::decode(data).map(|_| ()),
        ServerHello::decode(data).map(|_| ()),
        EncryptedExtensions::decode(data).map(|_| ()),
        split_handshake(data).map(|_| ()),
        decode_key_update(data).map(|_| ()),
        check_new_session_ticket(data),
    ] {
        if let Err(e) = result {
            prop_assert!(e.alert().is_some(), "{e}");
        }
    }
    Ok(())
}

/// Bodies of a ClientHello with every extension, a ServerHello, a HelloRetryRequest and an
/// EncryptedExtensions.
fn valid_encodings() -> Vec<Vec<u8>> {
    let body = |msg: Vec<u8>| split_handshake(&msg).unwrap().1.to_vec();
    let (mut ch, binders_len) = encode_client_hello(&ClientHelloParams {
        random: &[7; 32],
        session_id: &[9; 32],
        cipher_suites: &[0x1301, 0x1303],
        server_name: Some("aef.example"),
        supported_groups: &[0x1d, 0x17],
        key_shares: &[(0x1d, &[5; 32])],
        psk_modes: &[1, 0],
        alpn: &[b"h2".to_vec(), b"http/1.1".to_vec()],
        cookie: Some(b"cookie"),
        psks: &[(b"invoker-1", 32), (b"invoker-2", 48)],
        tls12: None,
    })
    .unwrap();
    fill_binders(&mut ch, binders_len, &[&[1; 32], &[2; 48]]);
    let sh = |random: &[u8; 32]| {
        encode_server_hello(&ServerHelloParams {
            random,
            session_id: &[9; 32],
            cipher_suite: 0x1301,
            key_share: Some((0x1d, &[6; 32])),
            selected_identity: 1,
        })
        .unwrap()
    };
    vec![
        body(ch),
        body(sh(&[3; 32])),
        body(encode_hello_retry_request(&[9; 32], 0x1301, 0x17).unwrap()),
        body(encode_encrypted_extensions(Some(b"h2"), true).unwrap()),
    ]
}
