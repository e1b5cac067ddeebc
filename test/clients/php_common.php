<?php
// What both PHP scenario scripts print the same way. $prefix: the scenario's name prefix.

function say(...$words) { echo implode(' ', $words), "\n"; }

/** The text with the scenario's prefix as PREFIX, so that lines compare across runs. */
function named($text) { global $prefix; return str_replace($prefix, 'PREFIX', $text); }

/** A dead-lettered message's headers, sorted, each with its PHP type; then its first x-death entry's fields. */
function sayHeaders(array $h) {
    ksort($h);
    foreach ($h as $k => $v) {
        if ($k !== 'x-death') say('header', $k, named(json_encode($v, JSON_UNESCAPED_UNICODE)), gettype($v));
    }
    $death = $h['x-death'][0];
    ksort($death);
    foreach ($death as $k => $v) say('x-death', $k, gettype($v), $k === 'time' ? '' : named(json_encode($v)));
}
