//! Secrets a person types: the one-time codes and passwords the service makes (random
//! characters of Crockford's base32 from the operating system's CSPRNG), and an
//! estimate of the strength of one a person chose, so that a chosen password can be
//! held to the strength of a made one.
//!
//! Why an estimate and not rules: "12 characters with a digit" admits `Password1234`,
//! which a guesser tries in its first thousand. The estimate is zxcvbn's (dictionaries,
//! keyboard walks, dates, repeats, sequences), summed over the parts it finds, with the
//! parts it finds nothing in counted as random characters of the classes they draw from.

use zeroize::Zeroizing;
use zxcvbn::matching::patterns::MatchPattern;

use super::CryptoError;

/// Crockford's base32 alphabet: no I, L, O or U, so codes read aloud or typed from an
/// SMS are not misread. 32 symbols: 5 bits a character.
pub const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Bits of a random character of [`ALPHABET`].
pub const BITS_PER_CHARACTER: usize = 5;

/// `length` random characters of Crockford's base32 (`5 × length` bits).
pub fn random_base32(length: usize) -> Result<Zeroizing<String>, CryptoError> {
    let mut bytes = Zeroizing::new(vec![0u8; length]);
    getrandom::fill(&mut bytes).map_err(|_| CryptoError::Random)?;
    // 256 is a multiple of 32, so taking the low five bits is unbiased.
    Ok(Zeroizing::new(
        bytes
            .iter()
            .map(|byte| char::from(ALPHABET[usize::from(byte & 31)]))
            .collect(),
    ))
}

/// `secret` with a hyphen after every `group` characters (`RZV2-Q19T-7K3M`), so that
/// it can be read and typed.
pub fn grouped(secret: &str, group: usize) -> Zeroizing<String> {
    let mut shown = Zeroizing::new(String::with_capacity(secret.len() + secret.len() / group));
    for (index, character) in secret.chars().enumerate() {
        if index > 0 && index % group == 0 {
            shown.push('-');
        }
        shown.push(character);
    }
    shown
}

/// About how many bits of guessing `password` is worth to an attacker who knows how
/// people choose passwords. The password is cut into words (at spaces, hyphens,
/// underscores and dots) and words into pieces of at most [`PIECE`] characters; each
/// piece is worth zxcvbn's guesses for the parts it recognises in it (dictionary
/// words, keyboard walks, dates, repeats, sequences) and, for the rest, `log2` of the
/// size of the character classes present (digits, lower case, upper case, other
/// ASCII, anything else) per character. Pieces, because zxcvbn counts guesses in 64
/// bits: past that it stops telling a passphrase of common words from a random string.
/// An overestimate for words its dictionaries lack; an underestimate for a random
/// string in which it sees a pattern by chance (a doubled character is a "repeat").
#[must_use]
pub fn estimated_bits(password: &str) -> f64 {
    password
        .split(|character: char| character.is_whitespace() || "-_.".contains(character))
        .flat_map(pieces)
        .map(piece_bits)
        .sum()
}

/// `word` cut into slices of at most [`PIECE`] characters.
fn pieces(word: &str) -> impl Iterator<Item = &str> {
    let mut starts: Vec<usize> = word
        .char_indices()
        .map(|(at, _)| at)
        .step_by(PIECE)
        .collect();
    starts.push(word.len());
    (1..starts.len()).map(move |index| &word[starts[index - 1]..starts[index]])
}

/// The longest piece zxcvbn is asked about: 16 characters of its brute force (10
/// guesses a character) stay far below 2^64.
const PIECE: usize = 16;

fn piece_bits(piece: &str) -> f64 {
    zxcvbn::zxcvbn(piece, &[])
        .sequence()
        .iter()
        .map(|part| match (&part.pattern, part.guesses) {
            (MatchPattern::BruteForce, _) | (_, None) => random_bits(&part.token),
            (_, Some(guesses)) => log2(guesses),
        })
        .sum()
}

/// Bits of `token` read as random characters of the classes it draws from.
fn random_bits(token: &str) -> f64 {
    const CLASS_SIZES: [u32; 5] = [10, 26, 26, 33, 100];
    let mut classes = [false; 5];
    for character in token.chars() {
        let class = match character {
            '0'..='9' => 0,
            'a'..='z' => 1,
            'A'..='Z' => 2,
            _ if character.is_ascii() => 3,
            _ => 4,
        };
        classes[class] = true;
    }
    let alphabet: u32 = classes
        .iter()
        .zip(CLASS_SIZES)
        .filter(|(present, _)| **present)
        .map(|(_, size)| size)
        .sum();
    f64::from(u32::try_from(token.chars().count()).unwrap_or(u32::MAX))
        * f64::from(alphabet.max(1)).log2()
}

fn log2(guesses: u64) -> f64 {
    // Guess counts far beyond 2^53 lose nothing that matters here in the conversion.
    #[allow(clippy::cast_precision_loss)]
    let guesses = guesses as f64;
    guesses.max(1.0).log2()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_secrets_are_base32_of_the_asked_length() {
        let made = random_base32(20).unwrap();
        assert_eq!(made.len(), 20);
        assert!(made.bytes().all(|byte| ALPHABET.contains(&byte)));
        assert_ne!(*made, *random_base32(20).unwrap());
        assert_eq!(*grouped("RZV2Q19T7K3M", 4), "RZV2-Q19T-7K3M");
    }

    #[test]
    fn the_estimate_sees_through_human_passwords() {
        for weak in [
            "123456789012",
            "Password1234Password1234",
            "correct horse battery",
            "qwertyuiopasdfghjkl",
            "2026-11-29 2026-11-29",
        ] {
            assert!(
                estimated_bits(weak) < 80.0,
                "{weak}: {}",
                estimated_bits(weak)
            );
        }
        // 32 random letters and digits (about 190 bits).
        let random = "k3Jd9sLq0PzX7vBn2MwR8tYc4GhF6aEu";
        assert!(
            estimated_bits(random) >= 100.0,
            "{}",
            estimated_bits(random)
        );
    }
}
