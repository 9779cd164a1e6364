# bash completion for the sky-* tools: each one lists its own flags
# (--generate-bash-completion); anything else completes as a file name.
# make install PREFIX=... installs it; or: . scripts/completion.bash
_skyflows() {
	local cur=${COMP_WORDS[COMP_CWORD]}
	if [[ $cur == -* ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$("${COMP_WORDS[0]}" "${COMP_WORDS[@]:1:COMP_CWORD}" --generate-bash-completion 2> /dev/null)" -- "$cur")
	fi
}
complete -o default -F _skyflows sky-flows sky-classify sky-filter sky-transform sky-batch sky-s3put sky-encode sky-prom sky-genflows sky-analyzer-sim
