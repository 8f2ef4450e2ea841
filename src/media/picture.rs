//! What an upload is, found in its bytes (never its name or declared type), its dimensions,
//! and resized copies. Decoding is CPU work: callers run these on `spawn_blocking`.

use image::{ImageFormat, ImageReader, Limits, imageops::FilterType};
use std::io::Cursor;

/// The four accepted types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `image/png`
    Png,
    /// `image/jpeg`
    Jpeg,
    /// `image/webp`
    Webp,
    /// `image/gif`
    Gif,
}

impl Kind {
    /// The type by its magic bytes; anything else (SVG, text, HTML, …) is `None`.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Self::Png)
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(Self::Jpeg)
        } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
            Some(Self::Gif)
        } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            Some(Self::Webp)
        } else {
            None
        }
    }

    /// The file extension (and the only one `/media/` names accept for this type).
    pub fn ext(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Jpeg => "jpg",
            Self::Webp => "webp",
            Self::Gif => "gif",
        }
    }

    /// The kind a `/media/` file extension stands for.
    pub fn from_ext(ext: &str) -> Option<Self> {
        [Self::Png, Self::Jpeg, Self::Webp, Self::Gif]
            .into_iter()
            .find(|kind| kind.ext() == ext)
    }

    /// The media type answered for it.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Webp => "image/webp",
            Self::Gif => "image/gif",
        }
    }

    fn format(self) -> ImageFormat {
        match self {
            Self::Png => ImageFormat::Png,
            Self::Jpeg => ImageFormat::Jpeg,
            Self::Webp => ImageFormat::WebP,
            Self::Gif => ImageFormat::Gif,
        }
    }
}

/// Largest picture accepted, in pixels (width × height): a few kilobytes of PNG can claim
/// billions of pixels, and a resize decodes the whole image into memory.
pub const MAX_PIXELS: u64 = 50_000_000;

/// Why bytes are not a usable picture.
#[derive(Debug, thiserror::Error)]
pub enum PictureError {
    /// Not one of the four types by its bytes, or its header does not decode.
    #[error("not a PNG, JPEG, WebP or GIF image")]
    Unsupported,
    /// More than [`MAX_PIXELS`].
    #[error("the image has more than {MAX_PIXELS} pixels")]
    TooManyPixels,
    /// Decoding or encoding a stored picture failed.
    #[error("image codec: {0}")]
    Codec(String),
}

/// Width and height from the header (the pixels are not decoded).
pub fn dimensions(kind: Kind, bytes: &[u8]) -> Result<(u32, u32), PictureError> {
    let (width, height) = ImageReader::with_format(Cursor::new(bytes), kind.format())
        .into_dimensions()
        .map_err(|_| PictureError::Unsupported)?;
    if width == 0 || height == 0 {
        return Err(PictureError::Unsupported);
    }
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(PictureError::TooManyPixels);
    }
    Ok((width, height))
}

/// A copy `width` pixels wide with the aspect ratio kept, encoded as `kind` (GIFs keep their
/// first frame). `None` when the picture is not wider than `width`: it is never enlarged.
pub fn resized(kind: Kind, bytes: &[u8], width: u32) -> Result<Option<Vec<u8>>, PictureError> {
    let (w, h) = dimensions(kind, bytes)?;
    if w <= width {
        return Ok(None);
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), kind.format());
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_PIXELS * 4 + (64 << 20));
    reader.limits(limits);
    let picture = reader
        .decode()
        .map_err(|e| PictureError::Codec(e.to_string()))?;
    let height = ((u64::from(h) * u64::from(width) + u64::from(w) / 2) / u64::from(w)).max(1);
    let height = u32::try_from(height).map_err(|e| PictureError::Codec(e.to_string()))?;
    let small = picture.resize_exact(width, height, FilterType::Triangle);
    // JPEG has no alpha channel; the others keep theirs.
    let small = if kind == Kind::Jpeg {
        image::DynamicImage::ImageRgb8(small.to_rgb8())
    } else {
        image::DynamicImage::ImageRgba8(small.to_rgba8())
    };
    let mut out = Cursor::new(Vec::new());
    small
        .write_to(&mut out, kind.format())
        .map_err(|e| PictureError::Codec(e.to_string()))?;
    Ok(Some(out.into_inner()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let picture = image::RgbaImage::from_pixel(width, height, image::Rgba([200, 30, 90, 255]));
        let mut out = Cursor::new(Vec::new());
        picture
            .write_to(&mut out, ImageFormat::Png)
            .expect("encodes");
        out.into_inner()
    }

    #[test]
    fn the_type_comes_from_the_bytes_and_a_resize_keeps_the_aspect_ratio() {
        let bytes = png(600, 300);
        assert_eq!(Kind::sniff(&bytes), Some(Kind::Png));
        assert_eq!(Kind::sniff(b"hello, I am text"), None);
        assert_eq!(
            Kind::sniff(b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>"),
            None
        );
        assert_eq!(dimensions(Kind::Png, &bytes).expect("decodes"), (600, 300));
        let small = resized(Kind::Png, &bytes, 200)
            .expect("resizes")
            .expect("smaller");
        assert_eq!(dimensions(Kind::Png, &small).expect("decodes"), (200, 100));
        assert!(resized(Kind::Png, &bytes, 800).expect("ok").is_none());
        assert!(matches!(
            dimensions(Kind::Jpeg, &bytes),
            Err(PictureError::Unsupported)
        ));
    }
}
