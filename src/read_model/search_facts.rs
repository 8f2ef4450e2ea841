//! The live facts search filters, counts and sorts by: one slot per product with its store,
//! status, category, brand, price, rating, creation time and whether it has units available,
//! kept current by the read model on every durable product change (stock included).
//!
//! # Why slots
//!
//! A query matches thousands of products. Looking each one up in the catalog map (hash, key
//! compare, clone) cost ~1–2 µs a hit and made a query cost milliseconds of CPU. Here a hit is
//! a small integer (the slot, reached from a document through a per-segment table, see
//! the search index's `SegmentSlots`) and every fact a filter, facet or sort needs is one plain load
//! from an array: the catalog is only read for the page shown (and for the rare
//! attribute filters and name sort).
//!
//! Every field is an atomic written with plain stores and read without locks, so queries on
//! both cores never contend with one another or with stock changes. A reader may see one
//! product half-way through an update (its new price with its old category) for an instant;
//! every field on its own is always a value the product really had.

use crate::{
    domain::{ids::ProductId, product::ProductStatus, time::Millis},
    views::ProductView,
};
use rustc_hash::FxHashMap;
use std::sync::{
    Arc, Mutex, OnceLock, RwLock,
    atomic::{
        AtomicI64, AtomicU8, AtomicU32, Ordering::Acquire, Ordering::Relaxed, Ordering::Release,
    },
};

/// Slots per chunk (chunks never move, so a slot's address is stable).
const CHUNK_BITS: u32 = 10;
const CHUNK: usize = 1 << CHUNK_BITS;

/// The ordinal of "no value" (no category, no brand).
pub const NO_VALUE: u32 = 0;

/// The rating of a product without reviews.
const UNRATED: u32 = u32::MAX;

/// Flag: the slot holds a product of the read model.
const PRESENT: u8 = 1;
/// Flag: the product is active (not archived).
const ACTIVE: u8 = 2;
/// Flag: the product has units available.
const IN_STOCK: u8 = 4;

/// One product's facts.
#[derive(Default)]
pub struct SlotFacts {
    /// The product and its id's bits (the last sort tie-break); set once.
    id: OnceLock<(ProductId, u128)>,
    flags: AtomicU8,
    store: AtomicU32,
    category: AtomicU32,
    brand: AtomicU32,
    price: AtomicI64,
    rating: AtomicU32,
    created_at: AtomicI64,
}

impl SlotFacts {
    /// Whether it holds a product at all (slots are assigned before the product arrives).
    pub fn present(&self) -> bool {
        self.flags.load(Acquire) & PRESENT != 0
    }

    /// The product's status.
    pub fn status(&self) -> ProductStatus {
        if self.flags.load(Relaxed) & ACTIVE != 0 {
            ProductStatus::Active
        } else {
            ProductStatus::Archived
        }
    }

    /// Whether units are available.
    pub fn in_stock(&self) -> bool {
        self.flags.load(Relaxed) & IN_STOCK != 0
    }

    /// The store's ordinal (see [`Facts::ordinal`]).
    pub fn store(&self) -> u32 {
        self.store.load(Relaxed)
    }

    /// The category's ordinal, [`NO_VALUE`] without one.
    pub fn category(&self) -> u32 {
        self.category.load(Relaxed)
    }

    /// The brand's ordinal, [`NO_VALUE`] without one.
    pub fn brand(&self) -> u32 {
        self.brand.load(Relaxed)
    }

    /// The price in minor units.
    pub fn price(&self) -> i64 {
        self.price.load(Relaxed)
    }

    /// The average rating in hundredths of a star, `None` without reviews.
    pub fn rating(&self) -> Option<u64> {
        let r = self.rating.load(Relaxed);
        (r != UNRATED).then_some(u64::from(r))
    }

    /// When the product was created.
    pub fn created_at(&self) -> Millis {
        self.created_at.load(Relaxed)
    }

    /// The product.
    pub fn product(&self) -> Option<&ProductId> {
        self.id.get().map(|(id, _)| id)
    }

    /// The product id's bits (0 before the slot is assigned).
    pub fn id_bits(&self) -> u128 {
        self.id.get().map_or(0, |(_, bits)| *bits)
    }
}

/// Strings (store ids, categories, brands) as small numbers, so facts compare and count
/// integers. Ordinal 0 is [`NO_VALUE`].
#[derive(Default)]
struct Interner {
    by_text: FxHashMap<Arc<str>, u32>,
    texts: Vec<Arc<str>>,
}

/// Every product's facts.
pub struct Facts {
    /// Product id bits → slot (taken by writers and by segment tables being built).
    slots: Mutex<FxHashMap<u128, u32>>,
    /// The slots, in chunks that never move; replaced (not mutated) when one is added.
    chunks: RwLock<Arc<Vec<Arc<[SlotFacts]>>>>,
    strings: RwLock<Interner>,
    /// The last popularity table computed, reused while sales have not changed.
    popularity: Mutex<Option<Arc<Popularity>>>,
}

impl Default for Facts {
    fn default() -> Self {
        Self {
            slots: Mutex::default(),
            chunks: RwLock::default(),
            strings: RwLock::new(Interner {
                by_text: FxHashMap::default(),
                texts: vec![Arc::from("")],
            }),
            popularity: Mutex::default(),
        }
    }
}

/// A point-in-time list of the chunks, read without locks (slots added after it was taken
/// are not in it; they hold nothing a query started before them could have matched).
#[derive(Clone)]
pub struct FactsView {
    chunks: Arc<Vec<Arc<[SlotFacts]>>>,
}

impl FactsView {
    /// The facts of `slot`, when it existed when the view was taken.
    #[inline]
    pub fn get(&self, slot: u32) -> Option<&SlotFacts> {
        self.chunks
            .get((slot >> CHUNK_BITS) as usize)?
            .get(slot as usize & (CHUNK - 1))
    }

    /// Every slot of the view with its number.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &SlotFacts)> {
        self.chunks
            .iter()
            .flat_map(|chunk| chunk.iter())
            .enumerate()
            .map(|(i, facts)| (i as u32, facts))
    }
}

/// Units sold in the last 30 days per slot, as of one state of the sales and one day.
pub struct Popularity {
    generation: u64,
    day: i64,
    sold: Vec<u64>,
}

impl Popularity {
    /// Units `slot`'s product sold in the window.
    #[inline]
    pub fn of(&self, slot: u32) -> u64 {
        self.sold.get(slot as usize).copied().unwrap_or(0)
    }
}

impl Facts {
    /// The lock-free view queries read.
    pub fn view(&self) -> FactsView {
        FactsView {
            chunks: Arc::clone(&self.chunks.read().unwrap_or_else(|p| p.into_inner())),
        }
    }

    /// The slot of the product with id bits `bits`, assigned now if it had none.
    pub fn slot_of(&self, bits: u128) -> u32 {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        self.slot_locked(&mut slots, bits)
    }

    /// Slots for many products at once (one lock for a whole segment's table).
    pub fn slots_of(&self, bits: impl IntoIterator<Item = Option<u128>>) -> Vec<u32> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        bits.into_iter()
            .map(|b| b.map_or(u32::MAX, |b| self.slot_locked(&mut slots, b)))
            .collect()
    }

    fn slot_locked(&self, slots: &mut FxHashMap<u128, u32>, bits: u128) -> u32 {
        if let Some(slot) = slots.get(&bits) {
            return *slot;
        }
        let slot = slots.len() as u32;
        let chunk = (slot >> CHUNK_BITS) as usize;
        {
            let mut chunks = self.chunks.write().unwrap_or_else(|p| p.into_inner());
            if chunks.len() <= chunk {
                let mut grown: Vec<Arc<[SlotFacts]>> = chunks.as_ref().clone();
                grown.push((0..CHUNK).map(|_| SlotFacts::default()).collect());
                *chunks = Arc::new(grown);
            }
        }
        let view = self.view();
        if let Some(facts) = view.get(slot) {
            let _ = facts.id.set((ProductId::from_bits(bits), bits));
        }
        slots.insert(bits, slot);
        slot
    }

    /// The slot of a product, if it has one.
    pub fn find(&self, product: &ProductId) -> Option<u32> {
        self.slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&product.to_bits())
            .copied()
    }

    /// The ordinal of `text`, if any fact holds it (a filter value no product has matches
    /// nothing).
    pub fn ordinal(&self, text: &str) -> Option<u32> {
        self.strings
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .by_text
            .get(text)
            .copied()
    }

    /// The text of an ordinal.
    pub fn text(&self, ordinal: u32) -> Arc<str> {
        self.strings
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .texts
            .get(ordinal as usize)
            .cloned()
            .unwrap_or_else(|| Arc::from(""))
    }

    fn intern(&self, text: Option<&str>) -> u32 {
        let Some(text) = text else {
            return NO_VALUE;
        };
        if let Some(ordinal) = self.ordinal(text) {
            return ordinal;
        }
        let mut strings = self.strings.write().unwrap_or_else(|p| p.into_inner());
        if let Some(ordinal) = strings.by_text.get(text) {
            return *ordinal;
        }
        let ordinal = strings.texts.len() as u32;
        let text: Arc<str> = Arc::from(text);
        strings.texts.push(Arc::clone(&text));
        strings.by_text.insert(text, ordinal);
        ordinal
    }

    /// Records a product's state (called by the read model for every durable change).
    pub fn put(&self, view: &ProductView) {
        let c = &view.catalog;
        let slot = self.slot_of(c.id.to_bits());
        let store = self.intern(Some(c.store_id.as_str()));
        let category = self.intern(c.category.as_deref());
        let brand = self.intern(c.brand.as_deref());
        let chunks = self.view();
        let Some(facts) = chunks.get(slot) else {
            return;
        };
        facts.store.store(store, Relaxed);
        facts.category.store(category, Relaxed);
        facts.brand.store(brand, Relaxed);
        facts.price.store(c.price.amount, Relaxed);
        facts.rating.store(
            view.rating
                .average_hundredths()
                .map_or(UNRATED, |r| r.min(u64::from(UNRATED - 1)) as u32),
            Relaxed,
        );
        facts.created_at.store(c.created_at, Relaxed);
        let mut flags = PRESENT;
        if c.status == ProductStatus::Active {
            flags |= ACTIVE;
        }
        if view.stock.available > 0 {
            flags |= IN_STOCK;
        }
        facts.flags.store(flags, Release);
    }

    /// Units sold in the last 30 days per slot: the table for sales state `generation` on
    /// `day`, recomputed (from the products with sales only, which `each_sold` hands over)
    /// when either changed, else the last table. The sales counters are passed in rather
    /// than named here, so this layer does not import the discovery (which reads the read
    /// model that keeps these facts).
    pub fn popularity(
        &self,
        generation: u64,
        day: i64,
        each_sold: impl FnOnce(&mut dyn FnMut(&ProductId, u64)),
    ) -> Arc<Popularity> {
        let mut cached = self.popularity.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = cached.as_ref()
            && p.generation == generation
            && p.day == day
        {
            return Arc::clone(p);
        }
        let mut sold = Vec::new();
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        each_sold(&mut |product, units| {
            if let Some(&slot) = slots.get(&product.to_bits()) {
                let i = slot as usize;
                if sold.len() <= i {
                    sold.resize(i + 1, 0);
                }
                sold[i] = units;
            }
        });
        drop(slots);
        let table = Arc::new(Popularity {
            generation,
            day,
            sold,
        });
        *cached = Some(Arc::clone(&table));
        table
    }
}
