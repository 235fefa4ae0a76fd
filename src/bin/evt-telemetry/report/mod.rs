//! `report`: one self-contained HTML file with SVG charts.
