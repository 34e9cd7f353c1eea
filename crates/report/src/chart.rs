//! What every SVG chart shares: its frame (size, accessible title and
//! description, the empty-state placeholder), margins and number formats.

/// Inset of the empty-state placeholder's border from the chart's edge (px).
const PLACEHOLDER_INSET: u32 = 1;
/// The placeholder's message sits this far below the chart's middle (px).
const PLACEHOLDER_TEXT_DROP: u32 = 4;

/// Space around a chart's plot area (px).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Margin {
    pub(crate) left: f64,
    pub(crate) right: f64,
    pub(crate) top: f64,
    pub(crate) bottom: f64,
}

impl Margin {
    /// Width of the plot area of a chart `width` wide.
    pub(crate) fn plot_width(&self, width: u32) -> f64 {
        f64::from(width) - self.left - self.right
    }

    /// Height of the plot area of a chart `height` high.
    pub(crate) fn plot_height(&self, height: u32) -> f64 {
        f64::from(height) - self.top - self.bottom
    }
}

/// The opening of a chart's `<svg>` (see `templates/chart.html`): an accessible
/// title and description and, when there is nothing to draw, a placeholder.
#[derive(Debug)]
pub(crate) struct Frame {
    pub(crate) id: &'static str,
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) title: String,
    pub(crate) desc: String,
    /// Nothing to draw: `data-empty="true"` and the placeholder with `empty_message`.
    pub(crate) empty: bool,
    pub(crate) empty_message: String,
}

impl Frame {
    pub(crate) fn placeholder_width(&self) -> u32 {
        self.width - PLACEHOLDER_INSET
    }

    pub(crate) fn placeholder_height(&self) -> u32 {
        self.height - PLACEHOLDER_INSET
    }

    pub(crate) fn placeholder_text_x(&self) -> u32 {
        self.width / 2
    }

    pub(crate) fn placeholder_text_y(&self) -> u32 {
        self.height / 2 + PLACEHOLDER_TEXT_DROP
    }
}

/// A coordinate with one decimal, as every chart writes them.
pub(crate) fn px(v: f64) -> String {
    format!("{v:.1}")
}

/// A coordinate as Rust prints it (`56`, `12.5`): the margins that the
/// hand-written page printed without a fixed precision.
pub(crate) fn plain(v: f64) -> String {
    format!("{v}")
}
