//! A table of one kind of object with the indexes Stripe's lists need: by id, by creation order
//! `(created, insertion)` and, for objects that belong to a customer, by customer. A page is a
//! binary search plus a walk over at most the page (and what filters skip), never a scan of the
//! whole table.

use std::collections::HashMap;

use super::model::{
    Charge, CheckoutSession, Customer, Event, Invoice, Ix, PaymentIntent, Refund, Subscription,
};

/// What the table needs to know about a row.
pub trait Row {
    fn id(&self) -> &str;
    fn created(&self) -> i64;
    /// The customer row this object belongs to, if any (indexed for `customer=` filters).
    fn customer(&self) -> Option<Ix> {
        None
    }
}

macro_rules! row {
    ($t:ty) => {
        impl Row for $t {
            fn id(&self) -> &str {
                &self.id
            }
            fn created(&self) -> i64 {
                self.created
            }
        }
    };
    ($t:ty, opt_customer) => {
        impl Row for $t {
            fn id(&self) -> &str {
                &self.id
            }
            fn created(&self) -> i64 {
                self.created
            }
            fn customer(&self) -> Option<Ix> {
                self.customer
            }
        }
    };
    ($t:ty, customer) => {
        impl Row for $t {
            fn id(&self) -> &str {
                &self.id
            }
            fn created(&self) -> i64 {
                self.created
            }
            fn customer(&self) -> Option<Ix> {
                Some(self.customer)
            }
        }
    };
}

row!(Customer);
row!(Event);
row!(Refund);
row!(Charge, opt_customer);
row!(PaymentIntent, opt_customer);
row!(CheckoutSession, opt_customer);
row!(Subscription, customer);
row!(Invoice, customer);

/// Sort key: creation time, then insertion order (the row index).
pub type Key = (i64, Ix);

#[derive(Debug)]
pub struct Table<T> {
    rows: Vec<T>,
    by_id: HashMap<Box<str>, Ix>,
    /// Row indices ascending by key.
    order: Vec<Ix>,
    /// Per customer row: row indices ascending by key.
    by_customer: HashMap<Ix, Vec<Ix>>,
    bulk: bool,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Self {
            rows: Vec::new(),
            by_id: HashMap::new(),
            order: Vec::new(),
            by_customer: HashMap::new(),
            bulk: false,
        }
    }
}

impl<T: Row> Table<T> {
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn lookup(&self, id: &str) -> Option<Ix> {
        self.by_id.get(id).copied()
    }

    pub fn get(&self, ix: Ix) -> &T {
        &self.rows[ix as usize]
    }

    pub fn get_mut(&mut self, ix: Ix) -> &mut T {
        &mut self.rows[ix as usize]
    }

    pub fn by_id(&self, id: &str) -> Option<&T> {
        self.lookup(id).map(|ix| self.get(ix))
    }

    pub fn rows(&self) -> &[T] {
        &self.rows
    }

    pub fn key(&self, ix: Ix) -> Key {
        (self.rows[ix as usize].created(), ix)
    }

    /// All rows, ascending by key.
    pub fn order(&self) -> &[Ix] {
        debug_assert!(!self.bulk);
        &self.order
    }

    /// A customer's rows, ascending by key.
    pub fn of_customer(&self, customer: Ix) -> &[Ix] {
        self.by_customer
            .get(&customer)
            .map_or(&[], |v| v.as_slice())
    }

    /// Adds a row and returns its index. Ids must be unique.
    pub fn insert(&mut self, row: T) -> Ix {
        let ix = self.rows.len() as Ix;
        debug_assert!(!self.by_id.contains_key(row.id()), "duplicate id");
        self.by_id.insert(row.id().into(), ix);
        let customer = row.customer();
        self.rows.push(row);
        if self.bulk {
            self.order.push(ix);
            if let Some(c) = customer {
                self.by_customer.entry(c).or_default().push(ix);
            }
            return ix;
        }
        let key = self.key(ix);
        insert_sorted(&mut self.order, ix, key, &self.rows);
        if let Some(c) = customer {
            let v = self.by_customer.entry(c).or_default();
            insert_sorted(v, ix, key, &self.rows);
        }
        ix
    }

    /// Starts a bulk load: inserts append, and [`Table::end_bulk`] sorts once.
    pub fn begin_bulk(&mut self) {
        self.bulk = true;
    }

    pub fn end_bulk(&mut self) {
        if !self.bulk {
            return;
        }
        self.bulk = false;
        let rows = &self.rows;
        let key = |ix: &Ix| (rows[*ix as usize].created(), *ix);
        self.order.sort_unstable_by_key(key);
        for v in self.by_customer.values_mut() {
            v.sort_unstable_by_key(key);
        }
    }

    pub fn reserve(&mut self, n: usize) {
        self.rows.reserve(n);
        self.order.reserve(n);
        self.by_id.reserve(n);
    }

    pub fn clear(&mut self) {
        *self = Self::default();
    }
}

fn insert_sorted<T: Row>(v: &mut Vec<Ix>, ix: Ix, key: Key, rows: &[T]) {
    let at = |j: Ix| (rows[j as usize].created(), j);
    match v.last() {
        Some(&last) if at(last) > key => {
            let pos = v.partition_point(|&j| at(j) <= key);
            v.insert(pos, ix);
        }
        _ => v.push(ix),
    }
}

/// Where a page starts: the first page, after an object, or before one (keys of the cursor).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cursor {
    First,
    StartingAfter(Key),
    EndingBefore(Key),
}

/// Inclusive bounds on `created`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CreatedRange {
    pub gte: Option<i64>,
    pub lte: Option<i64>,
}

impl CreatedRange {
    pub fn is_empty(&self) -> bool {
        matches!((self.gte, self.lte), (Some(a), Some(b)) if a > b)
    }
}

/// One page, newest first, of the rows in `idx` (ascending by key) that fall in `created`, lie
/// beyond `cursor` and pass `keep`. Returns the rows and `has_more`.
pub fn page<T: Row>(
    rows: &[T],
    idx: &[Ix],
    created: CreatedRange,
    cursor: Cursor,
    limit: usize,
    keep: impl Fn(&T) -> bool,
) -> (Vec<Ix>, bool) {
    if created.is_empty() {
        return (Vec::new(), false);
    }
    let c = |j: Ix| rows[j as usize].created();
    let k = |j: Ix| (rows[j as usize].created(), j);
    let mut lo = created
        .gte
        .map_or(0, |g| idx.partition_point(|&j| c(j) < g));
    let mut hi = created
        .lte
        .map_or(idx.len(), |l| idx.partition_point(|&j| c(j) <= l));
    let mut out = Vec::with_capacity(limit.min(hi.saturating_sub(lo)));
    match cursor {
        Cursor::First | Cursor::StartingAfter(_) => {
            if let Cursor::StartingAfter(key) = cursor {
                hi = hi.min(idx.partition_point(|&j| k(j) < key));
            }
            let mut i = hi;
            while i > lo {
                i -= 1;
                let j = idx[i];
                if keep(&rows[j as usize]) {
                    if out.len() == limit {
                        return (out, true);
                    }
                    out.push(j);
                }
            }
            (out, false)
        }
        Cursor::EndingBefore(key) => {
            lo = lo.max(idx.partition_point(|&j| k(j) <= key));
            let mut more = false;
            for &j in idx.get(lo..hi).unwrap_or(&[]) {
                if keep(&rows[j as usize]) {
                    if out.len() == limit {
                        more = true;
                        break;
                    }
                    out.push(j);
                }
            }
            out.reverse();
            (out, more)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct R {
        id: Box<str>,
        created: i64,
    }
    impl Row for R {
        fn id(&self) -> &str {
            &self.id
        }
        fn created(&self) -> i64 {
            self.created
        }
    }

    fn table(createds: &[i64], bulk: bool) -> Table<R> {
        let mut t = Table::default();
        if bulk {
            t.begin_bulk();
        }
        for (i, c) in createds.iter().enumerate() {
            t.insert(R {
                id: format!("r{i}").into(),
                created: *c,
            });
        }
        t.end_bulk();
        t
    }

    fn ids(t: &Table<R>, ixs: &[Ix]) -> Vec<String> {
        ixs.iter().map(|&i| t.get(i).id.to_string()).collect()
    }

    #[test]
    fn newest_first_with_ties_by_insertion() {
        for bulk in [false, true] {
            let t = table(&[5, 3, 5, 1, 9], bulk);
            let (p, more) = page(
                t.rows(),
                t.order(),
                CreatedRange::default(),
                Cursor::First,
                10,
                |_| true,
            );
            assert_eq!(ids(&t, &p), ["r4", "r2", "r0", "r1", "r3"]);
            assert!(!more);
        }
    }

    #[test]
    fn cursors_walk_both_ways() {
        let t = table(&[1, 2, 3, 4, 5, 6, 7], false);
        let all = CreatedRange::default();
        let (p1, m1) = page(t.rows(), t.order(), all, Cursor::First, 3, |_| true);
        assert_eq!(ids(&t, &p1), ["r6", "r5", "r4"]);
        assert!(m1);
        let (p2, m2) = page(
            t.rows(),
            t.order(),
            all,
            Cursor::StartingAfter(t.key(p1[2])),
            3,
            |_| true,
        );
        assert_eq!(ids(&t, &p2), ["r3", "r2", "r1"]);
        assert!(m2);
        let (p3, m3) = page(
            t.rows(),
            t.order(),
            all,
            Cursor::StartingAfter(t.key(p2[2])),
            3,
            |_| true,
        );
        assert_eq!(ids(&t, &p3), ["r0"]);
        assert!(!m3);
        let (b, mb) = page(
            t.rows(),
            t.order(),
            all,
            Cursor::EndingBefore(t.key(p3[0])),
            2,
            |_| true,
        );
        assert_eq!(ids(&t, &b), ["r2", "r1"]);
        assert!(mb);
        let (b2, mb2) = page(
            t.rows(),
            t.order(),
            all,
            Cursor::EndingBefore(t.key(p1[1])),
            2,
            |_| true,
        );
        assert_eq!(ids(&t, &b2), ["r6"]);
        assert!(!mb2);
    }

    #[test]
    fn created_bounds_and_filters() {
        let t = table(&[1, 2, 3, 4, 5, 6, 7], false);
        let r = CreatedRange {
            gte: Some(3),
            lte: Some(5),
        };
        let (p, _) = page(t.rows(), t.order(), r, Cursor::First, 10, |_| true);
        assert_eq!(ids(&t, &p), ["r4", "r3", "r2"]);
        let (p, _) = page(
            t.rows(),
            t.order(),
            CreatedRange::default(),
            Cursor::First,
            10,
            |r| r.created % 2 == 0,
        );
        assert_eq!(ids(&t, &p), ["r5", "r3", "r1"]);
        let empty = CreatedRange {
            gte: Some(5),
            lte: Some(4),
        };
        assert!(
            page(t.rows(), t.order(), empty, Cursor::First, 10, |_| true)
                .0
                .is_empty()
        );
    }

    #[test]
    fn out_of_order_inserts_stay_sorted() {
        let t = table(&[10, 5, 7, 5, 1], false);
        let keys: Vec<Key> = t.order().iter().map(|&i| t.key(i)).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
    }
}
