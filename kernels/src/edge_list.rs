//! The plain edge-list format `cybergraph edges` writes and `cybergraph focus` and the focus
//! bench read: one edge per line, `src dst [weight]` (0-based particle ids, weight 1 when
//! absent), `#` starting a comment.

use std::io::{self, BufRead};

use crate::error::{KernelError, Result};

/// An edge list as read so far: its edges `(from, to, weight)` and the particles they name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EdgeList {
    /// One past the largest id seen.
    pub particles: usize,
    /// The edges, in line order.
    pub edges: Vec<(u32, u32, f64)>,
}

impl EdgeList {
    /// Reads one line: an edge, or nothing for a blank or comment line. A line that is neither
    /// (a field missing or extra, an id that is no `u32`, a weight not finite and ≥ 0) is
    /// refused and changes nothing.
    pub fn push_line(&mut self, line: &str) -> Result<()> {
        let content = line.split('#').next().unwrap_or("").trim();
        if content.is_empty() {
            return Ok(());
        }
        let bad = |why: String| Err(KernelError::EdgeList(format!("{content:?}: {why}")));
        let fields: Vec<&str> = content.split_whitespace().collect();
        if !(2..=3).contains(&fields.len()) {
            return bad("expected `src dst [weight]`".into());
        }
        let (Ok(from), Ok(to)) = (fields[0].parse::<u32>(), fields[1].parse::<u32>()) else {
            return bad("an id is not a u32".into());
        };
        let weight = match fields.get(2).map(|w| w.parse::<f64>()) {
            None => 1.0,
            Some(Ok(weight)) if weight.is_finite() && weight >= 0.0 => weight,
            Some(_) => return bad("the weight must be a finite number ≥ 0".into()),
        };
        self.particles = self.particles.max(from.max(to) as usize + 1);
        self.edges.push((from, to, weight));
        Ok(())
    }

    /// Reads a whole edge list, line by line; a line that is no edge is refused as invalid data
    /// with its (1-based) number.
    pub fn read(reader: impl BufRead) -> io::Result<EdgeList> {
        let mut list = EdgeList::default();
        for (number, line) in reader.lines().enumerate() {
            list.push_line(&line?)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("line {}: {e}", number + 1)))?;
        }
        Ok(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_edges_comments_or_refused() {
        let mut list = EdgeList::default();
        for line in ["# chain x", "0 3", "", "2 1 0.5  # a comment", "  7 0 2e-3 "] {
            list.push_line(line).unwrap();
        }
        assert_eq!(list, EdgeList { particles: 8, edges: vec![(0, 3, 1.0), (2, 1, 0.5), (7, 0, 2e-3)] });
        for bad in ["1", "1 2 3 4", "-1 2", "a 2", "1 2 -0.5", "1 2 inf", "1 2 x"] {
            assert!(list.push_line(bad).is_err(), "{bad:?} was taken");
        }
        assert_eq!(list.edges.len(), 3, "a refused line changes nothing");
    }

    #[test]
    fn a_whole_list_is_read_and_a_bad_line_is_named_by_its_number() {
        let read = EdgeList::read("# chain x\n0 3\n2 1 0.5\n".as_bytes()).unwrap();
        assert_eq!(read, EdgeList { particles: 4, edges: vec![(0, 3, 1.0), (2, 1, 0.5)] });
        let refused = EdgeList::read("0 3\n\n1 x\n".as_bytes()).unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::InvalidData);
        assert!(refused.to_string().starts_with("line 3: "), "{refused}");
    }
}
