//! RFC 3339 timestamps, parsed and written without a date-time dependency.

/// Parses an RFC 3339 timestamp (`2024-05-01T12:30:00Z`, `2024-05-01T12:30:00.5+02:00`; a space
/// may stand for `T`) into whole seconds since the Unix epoch, UTC. A bare date
/// (`2024-05-01`) is midnight UTC.
pub fn parse_rfc3339(text: &str) -> Result<i64, String> {
    let bad = || format!("expected an RFC 3339 time such as 2024-05-01T12:30:00Z, found {text:?}");
    let b = text.trim().as_bytes();
    let num = |s: &[u8]| -> Option<i64> {
        if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(s).ok()?.parse().ok()
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(bad());
    }
    let year = num(&b[0..4]).ok_or_else(bad)?;
    let month = num(&b[5..7]).ok_or_else(bad)?;
    let day = num(&b[8..10]).ok_or_else(bad)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err(bad());
    }
    let date_secs = days_from_civil(year, month, day) * 86_400;
    if b.len() == 10 {
        return Ok(date_secs);
    }
    if !matches!(b[10], b'T' | b't' | b' ') || b.len() < 19 || b[13] != b':' || b[16] != b':' {
        return Err(bad());
    }
    let hour = num(&b[11..13]).ok_or_else(bad)?;
    let minute = num(&b[14..16]).ok_or_else(bad)?;
    let second = num(&b[17..19]).ok_or_else(bad)?;
    if hour > 23 || minute > 59 || second > 60 {
        return Err(bad());
    }
    let mut rest = &b[19..];
    if let Some(frac) = rest.strip_prefix(b".") {
        let digits = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return Err(bad());
        }
        rest = &frac[digits..];
    }
    let offset = match rest {
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let h = num(&[*h1, *h2]).ok_or_else(bad)?;
            let m = num(&[*m1, *m2]).ok_or_else(bad)?;
            if h > 23 || m > 59 {
                return Err(bad());
            }
            let s = (h * 60 + m) * 60;
            if *sign == b'+' { s } else { -s }
        }
        _ => return Err(bad()),
    };
    Ok(date_secs + hour * 3600 + minute * 60 + second - offset)
}

/// Writes seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's days-from-civil algorithm (public domain description).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

/// Parses `7d`, `12h`, `30m`, `2w`, `3600s` (or a bare number of seconds) into seconds.
pub fn parse_window(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: i64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a window length like 7d or 12h"))?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => {
            return Err(format!(
                "unknown unit `{unit}` in `{s}` (use s, m, h, d or w)"
            ));
        }
    };
    if n <= 0 {
        return Err("the window must be longer than zero".into());
    }
    Ok(n * secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_instants() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_rfc3339("2024-05-01T12:30:00Z"), Ok(1_714_566_600));
        assert_eq!(
            parse_rfc3339("2024-05-01T14:30:00.123+02:00"),
            Ok(1_714_566_600)
        );
        assert_eq!(parse_rfc3339("2024-05-01 12:30:00z"), Ok(1_714_566_600));
        assert_eq!(parse_rfc3339("2024-02-29"), Ok(1_709_164_800));
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59Z"), Ok(-1));
    }

    #[test]
    fn rejects_bad_times() {
        for t in [
            "",
            "2024-13-01T00:00:00Z",
            "2023-02-29",
            "2024-05-01T12:30Z",
            "2024-05-01T12:30:00",
            "yesterday",
            "2024-05-01T12:30:00.Z",
        ] {
            assert!(parse_rfc3339(t).is_err(), "{t}");
        }
    }

    #[test]
    fn formats_round_trip() {
        for s in [0, 1_714_566_600, -1, 951_782_400, 4_102_444_800] {
            assert_eq!(parse_rfc3339(&format_rfc3339(s)), Ok(s));
        }
    }
}
