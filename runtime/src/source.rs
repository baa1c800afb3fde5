//! Sources of input batches.

use arrow_array::RecordBatch;
use percore_operators::codec::generator::Generator;
use percore_operators::Result;

/// Something that yields input batches until it is exhausted.
pub trait Source {
    /// The next batch, `Ok(None)` at the end of a bounded input.
    fn next_batch(&mut self) -> Result<Option<RecordBatch>>;

    /// Malformed rows skipped so far.
    fn malformed_rows(&self) -> u64 {
        0
    }
}

/// The built-in generator as a source.
pub struct GeneratorSource(Generator);

impl GeneratorSource {
    pub fn new(g: Generator) -> Self {
        GeneratorSource(g)
    }
}

impl Source for GeneratorSource {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        Ok(self.0.next())
    }
}
