//! Structure-aware server fuzzing: a real ClientHello of our client (`seeds/client_hello.bin`:
//! the fuzz identity, X25519MLKEM768 + X25519 shares, SNI, ALPN) is edited field by field —
//! extensions removed, duplicated, reordered, inserted, rewritten; identities, binders, key
//! shares, versions, suites — and by default re-bound with the right key, so that the server
//! gets past the binder check to everything behind it. Then raw edits of the encoding,
//! fragmentation into records, and arbitrary trailing bytes. If the server answers with a
//! HelloRetryRequest, an edited ClientHello2 is bound over the real HRR transcript and sent.
//!
//! Work budget: `Edit::Repeat` grows one list of the hello (extensions, groups, key shares,
//! suites, identities, ALPN names) to thousands of distinct entries from a few input
//! octets, and every input must cost the server at most `work_budget` of the octets it was
//! fed, as counted by the engine's work counter (`rustls_capif::psk::fuzzing::take_work`):
//! work that grows faster than the ClientHello is a crash, found by fuzzing, not review.
#![no_main]

use arbitrary::Arbitrary;
use f::raw::Extensions;
use libfuzzer_sys::fuzz_target;
use rustls_capif::psk::fuzzing as work;
use rustls_capif::psk::PskServerConnection;
use rustls_capif_fuzz as f;

const BASE: &[u8] = include_bytes!("../seeds/client_hello.bin");

#[derive(Arbitrary, Debug)]
struct Input {
    config: u8,
    deferred: bool,
    first: HelloEdits,
    second: Option<HelloEdits>,
    tail: Vec<u8>,
    shape: u8,
}

#[derive(Arbitrary, Debug)]
struct HelloEdits {
    edits: Vec<Edit>,
    /// Leave the binder as the edits left it (it then fails, or the edits broke the structure).
    no_rebind: bool,
    raw: Vec<RawEdit>,
    fragments: Vec<u16>,
}

#[derive(Arbitrary, Debug)]
enum Edit {
    RemoveExtension(u8),
    DuplicateExtension(u8),
    SwapExtensions(u8, u8),
    MoveExtensionToEnd(u8),
    InsertExtension {
        at: u8,
        typ: u16,
        body: Vec<u8>,
    },
    ReplaceBody {
        index: u8,
        body: Vec<u8>,
    },
    TruncateBody {
        index: u8,
        len: u16,
    },
    FlipBodyByte {
        index: u8,
        at: u16,
        xor: u8,
    },
    AppendToBody {
        index: u8,
        bytes: Vec<u8>,
    },
    LegacyVersion(u16),
    SessionId(Vec<u8>),
    CipherSuites(Vec<u16>),
    CompressionMethods(Vec<u8>),
    Versions(Vec<u16>),
    Groups(Vec<u16>),
    KeyShares(Vec<(u16, Vec<u8>)>),
    PskModes(Vec<u8>),
    Psk {
        identities: Vec<(Vec<u8>, u32)>,
        binders: Vec<Vec<u8>>,
        known_first: bool,
    },
    EarlyData,
    ServerName(Vec<u8>),
    Alpn(Vec<Vec<u8>>),
    Cookie(Vec<u8>),
    /// `count` distinct entries (code points from `first`) in list `what`.
    Repeat {
        what: u8,
        count: u16,
        first: u16,
    },
}

#[derive(Arbitrary, Debug)]
enum RawEdit {
    Truncate(u16),
    FlipByte { at: u16, xor: u8 },
    Append(Vec<u8>),
    MessageType(u8),
    MessageLength([u8; 3]),
}

fn u16s(values: &[u16]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_be_bytes()).collect()
}

fn set_ext(h: &mut f::Hello, typ: u16, body: Vec<u8>) {
    if let Some(e) = h.extensions.iter_mut().find(|(t, _)| *t == typ) {
        e.1 = body;
        return;
    }
    let at = h
        .extensions
        .iter()
        .position(|(t, _)| *t == 41)
        .unwrap_or(h.extensions.len());
    h.extensions.insert(at, (typ, body));
}

fn apply(h: &mut f::Hello, edit: Edit) {
    let n = h.extensions.len();
    let pick = |i: u8| usize::from(i) % n.max(1);
    match edit {
        Edit::RemoveExtension(i) if n > 0 => {
            h.extensions.remove(pick(i));
        }
        Edit::DuplicateExtension(i) if n > 0 => {
            let e = h.extensions[pick(i)].clone();
            h.extensions.insert(pick(i), e);
        }
        Edit::SwapExtensions(i, j) if n > 0 => h.extensions.swap(pick(i), pick(j)),
        Edit::MoveExtensionToEnd(i) if n > 0 => {
            let e = h.extensions.remove(pick(i));
            h.extensions.push(e);
        }
        Edit::InsertExtension { at, typ, body } => {
            let at = usize::from(at) % (n + 1);
            h.extensions.insert(at, (typ, body));
        }
        Edit::ReplaceBody { index, body } if n > 0 => h.extensions[pick(index)].1 = body,
        Edit::TruncateBody { index, len } if n > 0 => {
            h.extensions[pick(index)].1.truncate(usize::from(len))
        }
        Edit::FlipBodyByte { index, at, xor } if n > 0 => {
            let body = &mut h.extensions[pick(index)].1;
            if !body.is_empty() {
                let at = usize::from(at) % body.len();
                body[at] ^= xor;
            }
        }
        Edit::AppendToBody { index, bytes } if n > 0 => {
            h.extensions[pick(index)].1.extend_from_slice(&bytes)
        }
        Edit::LegacyVersion(v) => h.legacy_version = v,
        Edit::SessionId(id) => h.session_id = id,
        Edit::CipherSuites(s) => h.cipher_suites = u16s(&s),
        Edit::CompressionMethods(m) => h.compression_methods = m,
        Edit::Versions(v) => {
            let mut body = Vec::new();
            f::put_vec8(&mut body, &u16s(&v));
            set_ext(h, 43, body);
        }
        Edit::Groups(g) => {
            let mut body = Vec::new();
            f::put_vec16(&mut body, &u16s(&g));
            set_ext(h, 10, body);
        }
        Edit::KeyShares(shares) => {
            let mut list = Vec::new();
            for (g, k) in shares {
                list.extend_from_slice(&g.to_be_bytes());
                f::put_vec16(&mut list, &k);
            }
            let mut body = Vec::new();
            f::put_vec16(&mut body, &list);
            set_ext(h, 51, body);
        }
        Edit::PskModes(m) => {
            let mut body = Vec::new();
            f::put_vec8(&mut body, &m);
            set_ext(h, 45, body);
        }
        Edit::Psk {
            mut identities,
            mut binders,
            known_first,
        } => {
            if known_first {
                identities.insert(0, (f::IDENTITY.to_vec(), 0));
                binders.insert(0, vec![0; 32]);
            }
            let mut ids = Vec::new();
            for (id, age) in identities {
                f::put_vec16(&mut ids, &id);
                ids.extend_from_slice(&age.to_be_bytes());
            }
            let mut list = Vec::new();
            for b in binders {
                f::put_vec8(&mut list, &b);
            }
            let mut body = Vec::new();
            f::put_vec16(&mut body, &ids);
            f::put_vec16(&mut body, &list);
            set_ext(h, 41, body);
        }
        Edit::EarlyData => set_ext(h, 42, Vec::new()),
        Edit::ServerName(name) => {
            let mut entry = vec![0];
            f::put_vec16(&mut entry, &name);
            let mut body = Vec::new();
            f::put_vec16(&mut body, &entry);
            set_ext(h, 0, body);
        }
        Edit::Alpn(protocols) => {
            let mut list = Vec::new();
            for p in protocols {
                f::put_vec8(&mut list, &p);
            }
            let mut body = Vec::new();
            f::put_vec16(&mut body, &list);
            set_ext(h, 16, body);
        }
        Edit::Cookie(c) => {
            let mut body = Vec::new();
            f::put_vec16(&mut body, &c);
            set_ext(h, 44, body);
        }
        Edit::Repeat { what, count, first } => repeat(h, what, count, first),
        _ => {}
    }
}

/// Grows one list of `h` to `count` distinct entries (at most what a 64 KiB message holds).
fn repeat(h: &mut f::Hello, what: u8, count: u16, first: u16) {
    let count = usize::from(count).min(16_000);
    let codes = (0..count).map(|i| first.wrapping_add(i as u16));
    match what % 6 {
        0 => {
            let at = h
                .extensions
                .iter()
                .position(|(t, _)| *t == 41)
                .unwrap_or(h.extensions.len());
            let new: Vec<(u16, Vec<u8>)> = codes
                .filter(|t| !h.extensions.iter().any(|(u, _)| u == t))
                .map(|t| (t, Vec::new()))
                .collect();
            h.extensions.splice(at..at, new);
        }
        1 => {
            let mut groups: Vec<u16> = codes.collect();
            groups.extend(h.u16_ext(10, 2).unwrap_or_default());
            let mut body = Vec::new();
            f::put_vec16(&mut body, &u16s(&groups));
            set_ext(h, 10, body);
        }
        2 => {
            let groups: Vec<u16> = codes.collect();
            let mut list = Vec::new();
            for g in &groups {
                list.extend_from_slice(&g.to_be_bytes());
                f::put_vec16(&mut list, &[1]);
            }
            let mut body = Vec::new();
            f::put_vec16(&mut body, &list);
            set_ext(h, 51, body);
            let mut body = Vec::new();
            f::put_vec16(&mut body, &u16s(&groups));
            set_ext(h, 10, body);
        }
        3 => {
            let mut suites = u16s(&codes.collect::<Vec<_>>());
            suites.extend_from_slice(&h.cipher_suites);
            h.cipher_suites = suites;
        }
        4 => {
            let mut ids = Vec::new();
            let mut binders = Vec::new();
            for code in codes.take(2_000) {
                f::put_vec16(&mut ids, &code.to_be_bytes());
                ids.extend_from_slice(&[0; 4]);
                f::put_vec8(&mut binders, &[0xab; 32]);
            }
            if let Some((known_ids, known_binders)) = h.ext(41).and_then(split_psk) {
                ids.splice(0..0, known_ids);
                binders.splice(0..0, known_binders);
            }
            let mut body = Vec::new();
            f::put_vec16(&mut body, &ids);
            f::put_vec16(&mut body, &binders);
            set_ext(h, 41, body);
        }
        _ => {
            let mut list = Vec::new();
            for code in codes {
                f::put_vec8(&mut list, &[(code % 255) as u8 + 1]);
            }
            let mut body = Vec::new();
            f::put_vec16(&mut body, &list);
            set_ext(h, 16, body);
        }
    }
}

/// The identities and binders lists of a pre_shared_key body.
fn split_psk(body: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let n = usize::from(u16::from_be_bytes([*body.first()?, *body.get(1)?]));
    let ids = body.get(2..2 + n)?;
    let rest = body.get(2 + n..)?;
    let m = usize::from(u16::from_be_bytes([*rest.first()?, *rest.get(1)?]));
    Some((ids.to_vec(), rest.get(2..2 + m)?.to_vec()))
}

/// The edited hello as records; `prefix` is the transcript before it (for the binder).
fn build(base: &f::Hello, edits: HelloEdits, prefix: &[u8]) -> (Vec<u8>, Vec<u8>) {
    build_from(base.clone(), edits, prefix)
}

fn build_from(mut h: f::Hello, edits: HelloEdits, prefix: &[u8]) -> (Vec<u8>, Vec<u8>) {
    for edit in edits.edits.into_iter().take(16) {
        apply(&mut h, edit);
    }
    if !edits.no_rebind {
        h.rebind(0, prefix);
    }
    let mut message = h.encode();
    for raw in edits.raw.into_iter().take(4) {
        match raw {
            RawEdit::Truncate(n) => message.truncate(usize::from(n)),
            RawEdit::FlipByte { at, xor } if !message.is_empty() => {
                let at = usize::from(at) % message.len();
                message[at] ^= xor;
            }
            RawEdit::Append(bytes) => message.extend_from_slice(&bytes),
            RawEdit::MessageType(t) if !message.is_empty() => message[0] = t,
            RawEdit::MessageLength(len) if message.len() >= 4 => {
                message[1..4].copy_from_slice(&len)
            }
            _ => {}
        }
    }
    let records = if message.is_empty() {
        Vec::new()
    } else {
        f::records(22, &message, &edits.fragments)
    };
    (message, records)
}

/// Oracle: if the server answered `message` with a ServerHello or HelloRetryRequest, the
/// hello it accepted must have been acceptable (crash-free is not enough).
fn check_answer(message: &[u8], prefix: &[u8], out: &[u8]) {
    let Some(answer) = f::plaintext_handshake_messages(out).into_iter().next() else {
        return;
    };
    if answer[0] != 2 {
        return;
    }
    assert!(
        message.len() >= 4 && message[0] == 1,
        "answered a non-ClientHello"
    );
    let len =
        usize::from(message[1]) << 16 | usize::from(message[2]) << 8 | usize::from(message[3]);
    let first = &message[..(4 + len).min(message.len())];
    let ch = f::Hello::parse(first).expect("accepted ClientHello parses");
    let sh = f::raw::ServerHello::parse(&answer);

    let mut types: Vec<u16> = ch.extensions.iter().map(|(t, _)| *t).collect();
    assert_eq!(
        ch.extensions.last().map(|e| e.0),
        Some(41),
        "pre_shared_key last"
    );
    types.sort_unstable();
    let n = types.len();
    types.dedup();
    assert_eq!(types.len(), n, "accepted duplicate extensions");
    assert!(ch.legacy_version > 0x0300);
    assert_eq!(ch.compression_methods, [0]);
    assert!(ch.u16_ext(43, 1).unwrap().contains(&0x0304));
    let modes = ch.ext(45).expect("psk_key_exchange_modes present");
    assert_eq!(sh.session_id, ch.session_id, "session ID echo");
    let suites: Vec<u16> = ch
        .cipher_suites
        .chunks(2)
        .filter(|c| c.len() == 2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    assert!(suites.contains(&sh.cipher_suite), "suite was offered");
    let (identities, binders) = ch.psk_offer().expect("well-formed pre_shared_key");
    assert_eq!(identities.len(), binders.len());
    let shares = ch.key_share_groups().unwrap_or_default();
    let groups = ch.u16_ext(10, 2).unwrap_or_default();
    assert!(shares.iter().all(|g| groups.contains(g)));

    if sh.is_hrr() {
        let group = f::hrr_selected_group(&answer).expect("HRR names a group");
        assert!(groups.contains(&group) && !shares.contains(&group));
        assert!(modes[1..].contains(&1), "HRR only for psk_dhe_ke");
        return;
    }
    let selected = sh.ext(41).expect("selected_identity");
    let index = usize::from(u16::from_be_bytes([selected[0], selected[1]]));
    assert_eq!(identities[index], f::IDENTITY, "selected our identity");
    let mut rebound = ch.clone();
    assert!(rebound.rebind(index, prefix));
    assert_eq!(rebound.ext(41), ch.ext(41), "accepted binder verifies");
    match sh.ext(51) {
        Some(_) => {
            let (group, _) = sh.key_share();
            assert!(shares.contains(&group), "server share for a client share");
            assert!(modes[1..].contains(&1));
        }
        None => assert!(modes[1..].contains(&0), "psk_ke only if offered"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = Input::arbitrary(&mut arbitrary::Unstructured::new(data)) else {
        return;
    };
    let base = f::Hello::parse(BASE).expect("the seed ClientHello parses");
    // The TLS 1.3 configurations only: `check_answer` checks a TLS 1.3 ServerHello.
    let config = f::server_config(input.config % 4);
    let mut s = if input.deferred {
        PskServerConnection::new_deferred(config)
    } else {
        PskServerConnection::new(config)
    };
    let mut chunker = f::Chunker::new(input.config, input.shape);

    let (ch1, wire) = build(&base, input.first, &[]);
    work::take_work();
    let fed = f::feed(&mut s, &wire, &mut chunker, f::provide_if_waiting);
    let spent = work::take_work();
    assert!(
        spent <= work::work_budget(wire.len()),
        "ClientHello1 of {} octets cost {spent} units of work (budget {})",
        wire.len(),
        work::work_budget(wire.len())
    );
    let Ok(out) = fed else {
        return;
    };
    check_answer(&ch1, &[], &out);
    if let (Some(second), true) = (input.second, s.had_hello_retry_request()) {
        // ClientHello2: one share for the requested group, bound over
        // message_hash(ClientHello1) || HelloRetryRequest; then the edits.
        let Some(hrr) = f::plaintext_handshake_messages(&out).into_iter().next() else {
            return;
        };
        let mut h = base.clone();
        if let Some(group) = f::hrr_selected_group(&hrr) {
            if let Some(key) = f::key_share_for(group) {
                f::set_single_share(&mut h, group, &key);
            }
        }
        let mut prefix = f::message_hash(&ch1);
        prefix.extend_from_slice(&hrr);
        let (ch2, wire) = build_from(h, second, &prefix);
        work::take_work();
        let fed = f::feed(&mut s, &wire, &mut chunker, f::provide_if_waiting);
        let spent = work::take_work();
        assert!(
            spent <= work::work_budget(wire.len()),
            "ClientHello2 of {} octets cost {spent} units of work (budget {})",
            wire.len(),
            work::work_budget(wire.len())
        );
        let Ok(out) = fed else {
            return;
        };
        check_answer(&ch2, &prefix, &out);
    }
    if f::feed(&mut s, &input.tail, &mut chunker, f::provide_if_waiting).is_ok() {
        f::finish(&mut s);
    }
});
