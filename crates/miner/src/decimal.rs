//! Decimal digits printed by hand, two at a time from a table: the simulator and the CSV writer
//! print an integer or a date for nearly every value, and one division per two digits (no
//! `fmt` machinery) is measurable at those rates.

/// The two decimal digits of 0..=99.
static PAIRS: [[u8; 2]; 100] = {
    let mut t = [[0; 2]; 100];
    let mut i = 0;
    while i < 100 {
        t[i] = [b'0' + (i / 10) as u8, b'0' + (i % 10) as u8];
        i += 1;
    }
    t
};

/// The two decimal digits of `n % 100`.
#[inline(always)]
pub fn pair(n: u32) -> [u8; 2] {
    PAIRS[(n % 100) as usize]
}

/// [`PAIRS`] extended to every `u8`, entry `n` holding the digits of `n % 100`.
static BYTE_PAIRS: [[u8; 2]; 256] = {
    let mut t = [[0; 2]; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = PAIRS[i % 100];
        i += 1;
    }
    t
};

/// The two decimal digits of `n % 100`, read from a table without dividing (a date's month,
/// day, hour, minute and second are bytes).
#[inline(always)]
pub fn byte_pair(n: u8) -> [u8; 2] {
    BYTE_PAIRS[usize::from(n)]
}

/// The decimal digits of `n`, written at the end of `buf` and returned.
#[inline]
pub fn u64_digits(n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let start = digits_ending_at(n, buf, buf.len());
    &buf[start..]
}

/// Writes the decimal digits of `n` into `out` so that they end just before `end`, two at a
/// time from the last; returns where they start. `out[..end]` must have room for them (20 bytes
/// hold any `u64`).
#[inline(always)]
pub fn digits_ending_at<const N: usize>(mut n: u64, out: &mut [u8; N], end: usize) -> usize {
    let mut i = end;
    while n >= 100 {
        i -= 2;
        out[i..i + 2].copy_from_slice(&pair((n % 100) as u32));
        n /= 100;
    }
    if n >= 10 {
        i -= 2;
        out[i..i + 2].copy_from_slice(&pair(n as u32));
    } else {
        i -= 1;
        out[i] = b'0' + n as u8;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_equal_display() {
        for n in [
            0u64,
            1,
            9,
            10,
            99,
            100,
            101,
            999,
            1000,
            4_294_967_296,
            u64::MAX,
        ] {
            assert_eq!(u64_digits(n, &mut [0; 20]), n.to_string().as_bytes());
        }
        for n in 0..250 {
            assert_eq!(pair(n), format!("{:02}", n % 100).as_bytes());
        }
        for n in 0..=u8::MAX {
            assert_eq!(byte_pair(n), format!("{:02}", n % 100).as_bytes());
        }
    }
}
